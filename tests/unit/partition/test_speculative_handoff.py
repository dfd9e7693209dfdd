"""Speculative hand-off of a key's lock (ADR 0013): the decisions, without I/O.

The partition machine computes each batch and its effects run through the partition's
attempt host, as in the processor; a recording invoker stands in for the in-process one
and does what it does when a lock holder's handler returns (ask the host for an offer,
start it, report it started). The golden logs (``golden/speculation_*.json``) pin the
ops and effects; the e2e suites (hot key exact and never overlapping, kill -9,
rebalances) run it for real.
"""

from __future__ import annotations

from typing import Any

from runtime.log import records
from runtime.partition import journal as J
from runtime.partition.answers import Answers
from runtime.partition.attempts import PartitionHost
from runtime.partition.contract import Attempt, AttemptHost
from runtime.partition.effects import Batch
from runtime.partition.status import InvocationStatus, Status
from sdk import _journal as sj
from tests.unit.partition.golden_harness import GoldenRun

KEY = ("Counter", "k")
ADD = records.Target(KEY[0], "add", KEY[1], "exclusive")
NOW = 1_000_000
OUTPUT = sj.encode_entry(sj.OutputCommand(result=sj.Value(b"1")))


class _Invoker:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.ended: dict[str, dict[str, bytes]] = {}

    def start(self, host: AttemptHost, attempt: Attempt) -> None:
        self.calls.append(("start", attempt.invocation_id, attempt.number))

    def speculate(self, host: AttemptHost, attempt: Attempt) -> bool:
        self.calls.append(
            ("speculate", attempt.invocation_id, attempt.number, attempt.journal, attempt.state)
        )
        return True

    def adopt(self, invocation_id: str, attempt: int) -> dict[str, bytes] | None:
        self.calls.append(("adopt", invocation_id, attempt))
        return self.ended.pop(invocation_id, None)

    def abort_attempt(self, invocation_id: str, attempt: int) -> None:
        self.calls.append(("abort_attempt", invocation_id, attempt))

    def abort(self, invocation_id: str) -> None:
        self.calls.append(("abort", invocation_id))

    def notify(self, invocation_id: str, attempt: int, entries: list[bytes]) -> bool:
        return False

    def applied(self, invocation_id: str, attempt: int, journal_len: int) -> None:
        pass


class _Publisher:
    def publish(self, chan: str, payload: bytes) -> None:
        pass


class _Partition:
    """The machine, its attempt host and a recording invoker."""

    def __init__(self, *queued: str) -> None:
        self.run = GoldenRun({})
        self.machine = m = self.run.machine
        self.invoker = _Invoker()
        self.leading = True
        self.host = PartitionHost(
            m,
            self.invoker,
            Answers(_Publisher(), "t", lambda: False),
            append=_no_append,
            load_journal=_no_journal,
            epoch=lambda: 1,
            leading=lambda: self.leading,
        )
        self._offset = 0
        self.apply(*(records.Invoke(i, ADD, i.encode()) for i in ("inv_p", *queued)))
        self.invoker.calls.clear()

    def apply(self, *recs: records.Record) -> Batch:
        """One batch, its effects run as the processor runs them."""
        decoded = []
        for rec in recs:
            decoded.append((self._offset, rec))
            self._offset += 1
        batch = self.machine.apply(decoded, {}, NOW)
        handlers = self.host.effect_handlers()
        for effect in batch.effects:
            run = handlers.get(type(effect))
            if run is not None:
                run(effect)
        return batch

    def holder_returned(self, inv_id: str, attempt: int, state: dict[str, bytes]) -> None:
        """What the in-process invoker does when an adopted exclusive attempt returned."""
        nxt = self.host.offer_speculation(inv_id, attempt, state)
        if nxt is not None and self.invoker.speculate(self.host, nxt):
            self.host.speculation_started(nxt)

    def end(self, inv_id: str, attempt: int) -> Batch:
        """A clean end: that attempt's Output."""
        return self.apply(records.AppendJournal(inv_id, 1, attempt, [OUTPUT]))

    def st(self, inv_id: str) -> InvocationStatus:
        return self.machine.active[inv_id]


def _no_append(rec: records.Record) -> Any:
    raise AssertionError("no record is appended here")


async def _no_journal(inv_id: str) -> list[bytes]:
    raise AssertionError("no journal is read here")


def _input(inv_id: str) -> bytes:
    return J.input_entry({}, inv_id.encode())


def test_a_clean_end_adopts_the_speculative_attempt_without_starting_another() -> None:
    p = _Partition("inv_n")
    p.holder_returned("inv_p", 1, {"count": b"1"})
    assert p.invoker.calls == [("speculate", "inv_n", 2, [_input("inv_n")], {"count": b"1"})]
    p.end("inv_p", 1)
    n = p.st("inv_n")
    assert (n.status, n.attempt, p.machine.locks[KEY]) == (Status.INVOKED, 2, "inv_n")
    assert p.invoker.calls[1:] == [("abort", "inv_p"), ("adopt", "inv_n", 2)]  # no start
    assert "inv_n" not in p.machine.first_journal


def test_an_adopted_attempt_that_already_ended_speculates_on_the_next_one() -> None:
    p = _Partition("inv_n", "inv_m")
    p.holder_returned("inv_p", 1, {"count": b"1"})
    p.invoker.ended["inv_n"] = {"count": b"2"}
    p.end("inv_p", 1)
    assert p.invoker.calls[-1] == ("speculate", "inv_m", 2, [_input("inv_m")], {"count": b"2"})
    assert p.machine.handoff.by_key[KEY].pred == ("inv_n", 2)


def test_an_unclean_end_aborts_the_speculation_and_skips_its_attempt_number() -> None:
    """E.g. the holder was killed: the state the speculation ran on never existed, so the
    call starts afresh, with attempt 1 (the speculative entries, numbered 2, are rejected;
    the log alone decides the numbering, so an owner replaying it after a crash agrees)."""
    p = _Partition("inv_n")
    p.holder_returned("inv_p", 1, {"count": b"1"})
    p.apply(records.Kill("inv_p"))
    n = p.st("inv_n")
    assert (n.status, n.attempt) == (Status.INVOKED, 1)
    assert p.invoker.calls[1:] == [
        ("abort", "inv_p"),  # (the kill's, then the completion's)
        ("abort", "inv_p"),
        ("abort_attempt", "inv_n", 2),
        ("start", "inv_n", 1),
    ]


def test_a_killed_speculative_target_is_aborted_and_the_next_call_starts() -> None:
    p = _Partition("inv_n", "inv_m")
    p.holder_returned("inv_p", 1, {})
    p.apply(records.Kill("inv_n"))  # removes the queued call from the key's inbox
    p.invoker.calls = p.invoker.calls[:1]
    p.end("inv_p", 1)
    assert p.machine.locks[KEY] == "inv_m"
    assert p.invoker.calls[1:] == [
        ("abort", "inv_p"),
        ("abort_attempt", "inv_n", 2),
        ("start", "inv_m", 2),
    ]


def test_a_new_attempt_of_the_holder_drops_its_speculation() -> None:
    """The holder's end was not durable (its append failed) and it runs again: the
    speculative attempt must stop before the holder's retry starts."""
    p = _Partition("inv_n")
    p.holder_returned("inv_p", 1, {})
    p.st("inv_p").attempt = 2
    p.host.start_all()  # e.g. a new leader resumes it
    assert p.invoker.calls[1:] == [("abort_attempt", "inv_n", 2), ("start", "inv_p", 2)]
    assert p.machine.handoff.by_key == {} and p.st("inv_n").attempt == 0
    p.end("inv_p", 2)  # the retry ends cleanly: inv_n starts afresh
    assert p.invoker.calls[-1] == ("start", "inv_n", 2)


def test_no_speculation_where_it_cannot_hold() -> None:
    p = _Partition()  # empty inbox
    p.holder_returned("inv_p", 1, {})
    p2 = _Partition("inv_n")
    p2.holder_returned("inv_p", 0, {})  # not the holder's current attempt
    p2.st("inv_n").journal_len = 3  # (and never for one that already ran)
    p2.holder_returned("inv_p", 1, {})
    p3 = _Partition("inv_n")
    p3.leading = False
    p3.holder_returned("inv_p", 1, {})
    assert p.invoker.calls == p2.invoker.calls == p3.invoker.calls == []
