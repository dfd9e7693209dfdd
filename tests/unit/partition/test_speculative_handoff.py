"""Speculative hand-off of a key's lock (ADR 0013): the decisions, without I/O.

The processor is driven directly (no Kafka, no Redis): a recording invoker stands in
for the in-process one, and the effects of a computed batch are run by hand. The e2e
suites (hot key exact and never overlapping, kill -9, rebalances) run it for real.
"""

from __future__ import annotations

from collections import deque
from typing import Any, cast

from runtime.log import records
from runtime.partition.processor import PartitionProcessor, ProcessorDeps, _Batch
from runtime.partition.status import InvocationStatus, Status

KEY = ("Counter", "k")


class _Invoker:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.ended: dict[str, dict[str, bytes]] = {}

    def start(self, processor: Any, status: InvocationStatus, journal: Any) -> None:
        self.calls.append(("start", status.invocation_id, status.attempt))

    def speculate(
        self, processor: Any, status: InvocationStatus, attempt: int, journal: Any, state: Any
    ) -> bool:
        self.calls.append(("speculate", status.invocation_id, attempt, journal, state))
        return True

    def adopt(self, invocation_id: str, attempt: int) -> dict[str, bytes] | None:
        self.calls.append(("adopt", invocation_id, attempt))
        return self.ended.pop(invocation_id, None)

    def abort_attempt(self, invocation_id: str, attempt: int) -> None:
        self.calls.append(("abort_attempt", invocation_id, attempt))

    def abort(self, invocation_id: str) -> None:
        self.calls.append(("abort", invocation_id))


class _Handler:
    lazy_state = False


class _Service:
    def handler(self, name: str) -> _Handler:
        return _Handler()


class _Registry:
    def get(self, name: str) -> _Service:
        return _Service()


def _status(inv_id: str, status: Status, handler: str = "add") -> InvocationStatus:
    return InvocationStatus(
        invocation_id=inv_id,
        target=records.Target(KEY[0], handler, KEY[1], "exclusive"),
        status=status,
        created_ms=0,
        modified_ms=0,
        journal_len=1,
        commands=1,
    )


def _setup(*queued: str) -> tuple[PartitionProcessor, _Invoker]:
    inv = _Invoker()
    deps = ProcessorDeps(
        prefix="t", partitions=4, store=cast(Any, None), producer=cast(Any, None),
        redis=cast(Any, None), registry=cast(Any, _Registry()), worker_id="w",
        invoker=cast(Any, inv), publisher=cast(Any, None),
    )  # fmt: skip
    proc = PartitionProcessor(1, deps)
    proc.leading = True
    holder = _status("inv_p", Status.INVOKED)
    holder.attempt = 1
    proc.active["inv_p"] = holder
    proc.locks[KEY] = "inv_p"
    for q in queued:
        proc.active[q] = _status(q, Status.INBOXED)
        proc.first_journal[q] = b"input-" + q.encode()
        proc.inboxes.setdefault(KEY, deque()).append(q)
    return proc, inv


def _release(proc: PartitionProcessor, clean_end: tuple[str, int] | None) -> _Batch:
    b = _Batch()
    proc._clean_end = clean_end
    proc._release_lock(proc.active["inv_p"], b)
    proc._clean_end = None
    for effect in b.effects:
        effect()
    return b


def test_a_clean_end_adopts_the_speculative_attempt_without_starting_another() -> None:
    proc, inv = _setup("inv_n")
    proc.speculate(proc.active["inv_p"], 1, {"count": b"1"})
    assert inv.calls == [("speculate", "inv_n", 2, [b"input-inv_n"], {"count": b"1"})]
    _release(proc, ("inv_p", 1))
    n = proc.active["inv_n"]
    assert (n.status, n.attempt, proc.locks[KEY]) == (Status.INVOKED, 2, "inv_n")
    assert inv.calls[1:] == [("adopt", "inv_n", 2)]  # no start, no abort
    assert "inv_n" not in proc.first_journal


def test_an_adopted_attempt_that_already_ended_speculates_on_the_next_one() -> None:
    proc, inv = _setup("inv_n", "inv_m")
    proc.speculate(proc.active["inv_p"], 1, {"count": b"1"})
    inv.ended["inv_n"] = {"count": b"2"}
    _release(proc, ("inv_p", 1))
    assert inv.calls[-1] == ("speculate", "inv_m", 2, [b"input-inv_m"], {"count": b"2"})
    assert proc._spec[KEY].pred == ("inv_n", 2)


def test_an_unclean_end_aborts_the_speculation_and_skips_its_attempt_number() -> None:
    """E.g. the holder was killed: the state the speculation ran on never existed, so the
    call starts afresh, with attempt 1 (the speculative entries, numbered 2, are rejected;
    the log alone decides the numbering, so an owner replaying it after a crash agrees)."""
    proc, inv = _setup("inv_n")
    proc.speculate(proc.active["inv_p"], 1, {"count": b"1"})
    _release(proc, None)
    n = proc.active["inv_n"]
    assert (n.status, n.attempt) == (Status.INVOKED, 1)
    assert inv.calls[1:] == [("abort_attempt", "inv_n", 2), ("start", "inv_n", 1)]


def test_a_killed_speculative_target_is_aborted_and_the_next_call_starts() -> None:
    proc, inv = _setup("inv_n", "inv_m")
    proc.speculate(proc.active["inv_p"], 1, {})
    proc.inboxes[KEY].remove("inv_n")  # what a Kill of the queued call does
    del proc.active["inv_n"]
    _release(proc, ("inv_p", 1))
    assert proc.locks[KEY] == "inv_m"
    assert inv.calls[1:] == [("abort_attempt", "inv_n", 2), ("start", "inv_m", 2)]


def test_a_new_attempt_of_the_holder_drops_its_speculation() -> None:
    """The holder's end was not durable (its append failed) and it runs again: the
    speculative attempt must stop before the holder's retry starts."""
    proc, inv = _setup("inv_n")
    proc.speculate(proc.active["inv_p"], 1, {})
    proc.active["inv_p"].attempt = 2
    proc._start_attempt(proc.active["inv_p"], None)
    assert inv.calls[1:] == [("abort_attempt", "inv_n", 2), ("start", "inv_p", 2)]
    assert proc._spec == {} and proc.active["inv_n"].attempt == 0
    _release(proc, ("inv_p", 2))  # the retry ends cleanly: inv_n starts afresh
    assert inv.calls[-1] == ("start", "inv_n", 2)


def test_no_speculation_where_it_cannot_hold() -> None:
    proc, inv = _setup()  # empty inbox
    proc.speculate(proc.active["inv_p"], 1, {})
    proc, inv2 = _setup("inv_n")
    proc.speculate(proc.active["inv_p"], 0, {})  # not the holder's current attempt
    proc.active["inv_n"].journal_len = 3  # (and never for one that already ran)
    proc.speculate(proc.active["inv_p"], 1, {})
    proc, inv3 = _setup("inv_n")
    proc.leading = False
    proc.speculate(proc.active["inv_p"], 1, {})
    assert inv.calls == inv2.calls == inv3.calls == []
