"""Batched execution (ADR 0020), the partition's side without I/O.

The machine computes each batch and its effects run through the attempt host, as in
the processor; the batch runner takes the attempts that run batched, runs them with
a scripted inline invoker (a counter: each call adds one to its key's count) and
hands its record to a recording producer. The record is then applied like any
consumed record, by this owner and by an owner replaying the same log: both reach
the same Redis.
"""

from __future__ import annotations

import asyncio
from typing import Any

from runtime.log import records
from runtime.log.records import InvocationSource
from runtime.partition import journal as J
from runtime.partition.answers import Answers
from runtime.partition.attempts import PartitionHost
from runtime.partition.batching import BatchRunner, InlineEnd
from runtime.partition.contract import Attempt, AttemptHost
from runtime.partition.status import InvocationStatus, Status
from sdk import _journal as sj
from tests.unit.partition.golden_harness import GoldenRun

ADD = records.Target("Counter", "add", "k", "exclusive")
GREET = records.Target("Greeter", "greet", None, "service")
NOW = 1_000_000


class _Inline:
    """Runs ``Counter.add`` and ``Greeter.greet``; an input ``block`` blocks, ``fail`` fails."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, int, bool]] = []
        self.live: list[str] = []

    def can_run_inline(self, service: str, handler: str) -> bool:
        return True

    def run_inline(self, host: AttemptHost, attempt: Attempt, *, queued: bool) -> InlineEnd | None:
        inv = attempt.invocation_id
        self.runs.append((inv, attempt.number, queued))
        assert attempt.journal is not None
        body = J.decode(attempt.journal[0]).body
        if body == b"block":
            if not queued:
                self.live.append(inv)
            return None
        if body == b"fail":
            return InlineEnd([], None, records.BatchFailure(500, "boom", NOW + 1000))
        if attempt.target.key is None:
            return InlineEnd([sj.encode_entry(sj.OutputCommand(result=sj.Value(b'"hi"')))], None)
        state = dict(attempt.state or {})
        n = int(state.get("count", b"0")) + 1
        state["count"] = str(n).encode()
        entries = [
            sj.encode_entry(sj.SetStateCommand(key="count", value=state["count"])),
            sj.encode_entry(sj.OutputCommand(result=sj.Value(state["count"]))),
        ]
        return InlineEnd(entries, state)


class _Producer:
    def __init__(self) -> None:
        self.records: list[records.BatchCommit] = []

    async def init(self) -> None:
        pass

    def commit(self, record: records.BatchCommit) -> asyncio.Future[None]:
        self.records.append(record)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut

    async def close(self) -> None:
        pass


class _Invoker:
    def __init__(self) -> None:
        self.started: list[tuple[str, int]] = []

    def start(self, host: AttemptHost, attempt: Attempt) -> None:
        self.started.append((attempt.invocation_id, attempt.number))

    def notify(self, invocation_id: str, attempt: int, entries: list[bytes]) -> bool:
        return False

    def applied(self, invocation_id: str, attempt: int, journal_len: int) -> None:
        pass

    def abort(self, invocation_id: str) -> None:
        pass

    def speculate(self, host: AttemptHost, attempt: Attempt) -> bool:
        return False

    def adopt(self, invocation_id: str, attempt: int) -> dict[str, bytes] | None:
        return None

    def abort_attempt(self, invocation_id: str, attempt: int) -> None:
        pass


class _Publisher:
    def publish(self, chan: str, payload: bytes) -> None:
        pass


class _Owner:
    """A leading partition owner: machine, host, batch runner; the log it consumed."""

    def __init__(self, leading: bool = True) -> None:
        self.run = GoldenRun({})
        self.machine = m = self.run.machine
        self.invoker = _Invoker()
        self.inline = _Inline()
        self.producer = _Producer()
        self.leading = leading
        self.host = PartitionHost(
            m,
            self.invoker,
            Answers(_Publisher(), "t", lambda: False),
            append=_no_append,
            load_journal=_no_journal,
            epoch=lambda: 1,
            leading=lambda: self.leading,
        )
        self.runner = self.host.batch = BatchRunner(
            m,
            self.host,
            self.inline,
            self.producer,
            start_live=self.host.start_live,
            max_items=100,
            leading=lambda: self.leading,
        )
        self.log: list[records.Record] = []
        self._offset = 0

    async def apply(self, *recs: records.Record) -> None:
        """One consumed batch: computed, applied to the Redis model, effects run, flushed."""
        self.log.extend(recs)
        decoded = []
        for rec in recs:
            decoded.append((self._offset, rec))
            self._offset += 1
        batch = self.machine.apply(decoded, {}, NOW)
        self.run.redis.apply(batch.ops)
        handlers = self.host.effect_handlers()
        for effect in batch.effects:
            run = handlers.get(type(effect))
            if run is not None:
                run(effect)
        if self.runner.pending:
            await self.runner.flush()

    async def consume_commits(self) -> None:
        """Consume the batch records committed so far (the owner's own)."""
        while self.producer.records:
            rec = self.producer.records.pop(0)
            await self.apply(rec)

    def st(self, inv_id: str) -> InvocationStatus | None:
        return self.machine.active.get(inv_id)


def _invoke(inv_id: str, body: bytes, target: records.Target = ADD) -> records.Invoke:
    return records.Invoke(inv_id, target, body, source=InvocationSource.SUBSCRIPTION, send=True)


def _no_append(rec: records.Record) -> Any:
    raise AssertionError("no record is appended here")


async def _no_journal(inv_id: str) -> list[bytes]:
    raise AssertionError("no journal is read here")


def _contents(owner: _Owner) -> Any:
    r = owner.run.redis
    return (r.strings, r.hashes, r.lists, r.zsets, r.ttl)


async def _count(owner: _Owner) -> bytes | None:
    state = await owner.run.redis.hgetall(owner.run.keys.state("Counter", "k"))
    return state.get(b"count")


async def test_a_key_queue_runs_in_order_on_each_predecessors_state_in_one_record() -> None:
    o = _Owner()
    await o.apply(
        records.AnnounceLeader(1, "w"),
        _invoke("a", b"1"),
        _invoke("b", b"2"),
        _invoke("s", b"x", GREET),
        _invoke("c", b"3"),
    )
    assert o.inline.runs == [("a", 1, False), ("b", 2, True), ("c", 2, True), ("s", 1, False)]
    [rec] = o.producer.records
    assert [(i.invocation_id, i.attempt, i.after) for i in rec.items] == [
        ("a", 1, -1),
        ("b", 2, 0),
        ("c", 2, 1),
        ("s", 1, -1),
    ]
    assert o.invoker.started == []  # nothing on the normal path
    await o.consume_commits()
    assert all(o.st(i) is None for i in "abcs")  # all completed
    assert await _count(o) == b"3"
    assert o.producer.records == [] and o.invoker.started == []


async def test_a_replaying_owner_reaches_the_same_redis() -> None:
    o = _Owner()
    await o.apply(records.AnnounceLeader(1, "w"), _invoke("a", b"1"), _invoke("b", b"2"))
    await o.consume_commits()
    await o.apply(_invoke("c", b"3"), records.Kill("c"), _invoke("d", b"4"))
    await o.consume_commits()
    replay = _Owner(leading=False)
    for rec in o.log:  # one record per batch: other cuts give the same Redis
        await replay.apply(rec)
    assert _contents(replay) == _contents(o)
    assert await _count(o) == b"3"  # c was killed before its item was applied


async def test_a_blocked_head_goes_on_live_and_a_blocked_queued_call_waits_for_the_lock() -> None:
    o = _Owner()
    await o.apply(
        records.AnnounceLeader(1, "w"),
        _invoke("a", b"1"),
        _invoke("b", b"block"),
        _invoke("c", b"3"),
    )
    [rec] = o.producer.records
    assert [i.invocation_id for i in rec.items] == ["a"]  # b blocked: the chain stops there
    await o.consume_commits()
    # b got the lock after a's clean end (attempt 2) and blocks again as a head: live.
    assert o.inline.live == ["b"] and o.st("b") is not None
    assert o.st("b").attempt == 2  # type: ignore[union-attr]
    assert o.st("c").status is Status.INBOXED  # type: ignore[union-attr]


async def test_a_failed_item_is_retried_later_and_the_calls_behind_it_wait() -> None:
    o = _Owner()
    await o.apply(
        records.AnnounceLeader(1, "w"),
        _invoke("a", b"fail"),
        _invoke("b", b"2"),
    )
    [rec] = o.producer.records
    assert [(i.invocation_id, i.failure is not None) for i in rec.items] == [("a", True)]
    await o.consume_commits()
    a, b = o.st("a"), o.st("b")
    assert a is not None and a.status is Status.BACKING_OFF
    assert b is not None and b.status is Status.INBOXED


async def test_a_deposed_owner_runs_nothing() -> None:
    o = _Owner()
    await o.apply(records.AnnounceLeader(1, "w"))
    o.leading = False
    await o.apply(_invoke("a", b"1"))
    assert o.inline.runs == [] and o.producer.records == []
