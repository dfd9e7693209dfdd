"""The partition processor: applies one partition of ``rt.log`` to Redis and drives its invocations.

Exactly one processor drives a partition (invariant 2). It is the single
writer of the partition's Redis keys, so it keeps a write-through in-memory
view (active invocations, locks, inboxes, timers, recent object state) and
computes every transition in Python; Redis sees one atomic script call per
consumed batch. See ``docs/decisions/0002-log-records-and-processor.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec
import redis.asyncio as aioredis
from confluent_kafka import Message

from runtime.egress.outbox import EgressItem, EgressOutbox, encode_item, position_field
from runtime.egress.sender import EgressSender
from runtime.log import records
from runtime.log.producer import LogProducer, partition_of_invocation
from runtime.log.routing import routing_key_of, target_kind
from runtime.partition import journal as J
from runtime.partition.status import (
    InvocationStatus,
    Outcome,
    Status,
    decode_status,
    encode_status,
)
from runtime.registry import Registry
from runtime.responses import Publisher, Response, channel, encode_response
from runtime.state.batchload import BatchLoader
from runtime.state.keys import PartitionKeys
from runtime.state.store import (
    Delete,
    FencedError,
    HDel,
    HSet,
    LTrim,
    Op,
    PartitionStore,
    PExpire,
    RPush,
    Set,
    ZAdd,
    ZRem,
)
from runtime.subscriptions.mapping import KeyError_, invokes_of
from runtime.timers.cron import CronChanges, CronJobs
from runtime.timers.timer import Timer
from runtime.timers.timer import timer_decoder as _timer_dec
from runtime.timers.timer import timer_encoder as _timer_enc
from runtime.timers.wheel import DEFAULT_CAP, DEFAULT_WINDOW_MS, TimerWheel
from sdk._ids import InvalidIdError, parse_invocation_id

log = logging.getLogger("rt.processor")

SET_STATE_HANDLER = "__rt_set_state"
STATE_CACHE_KEYS = 10_000
MAX_BATCH = 2_000
DEFAULT_RETENTION_MS = 24 * 3600 * 1000
ANSWER_GRACE_MS = 60_000
"""A completed invocation's status (not its journal) outlives a shorter (even zero) journal
retention by this much: an ingress whose pub/sub answer got lost reads the outcome from it
(its safety net looks every few seconds), and a retention of 0 must not turn a lost
message into a caller that waits forever."""
SPEC_STEP = 2
"""Attempt number step of a hand-off after a clean end (a speculative attempt's number)."""
_UNSEEN_CAP = 256
"""Notifications remembered per invocation for reordering an attempt's late entries."""


def now_ms() -> int:
    return int(time.time() * 1000)


class Invoker(Protocol):
    """Runs attempts of invocations; implemented in-process (``runtime.invoker``)."""

    def start(
        self,
        processor: PartitionProcessor,
        status: InvocationStatus,
        journal: list[bytes] | None,
    ) -> None: ...

    def notify(self, invocation_id: str, attempt: int, entries: list[bytes]) -> bool:
        """Feed applied completions to a live attempt; False if none is live."""
        ...

    def applied(self, invocation_id: str, attempt: int, journal_len: int) -> None:
        """The attempt's entries up to ``journal_len`` are durable and applied."""
        ...

    def abort(self, invocation_id: str) -> None: ...

    def speculate(
        self,
        processor: PartitionProcessor,
        status: InvocationStatus,
        attempt: int,
        journal: list[bytes],
        state: dict[str, bytes],
    ) -> bool:
        """Start ``attempt`` of a still-queued invocation on ``state``; False if not now."""
        ...

    def adopt(self, invocation_id: str, attempt: int) -> dict[str, bytes] | None:
        """The speculative attempt is now the real one; if it has already ended, the
        state it ended with (to speculate on the next one)."""
        ...

    def abort_attempt(self, invocation_id: str, attempt: int) -> None:
        """Stop ``attempt`` of the invocation if that attempt is the live one."""
        ...


@dataclass(frozen=True)
class _Spec:
    """A speculative attempt of the head of a key's inbox (ADR 0013)."""

    invocation_id: str
    attempt: int
    pred: tuple[str, int]
    """(invocation id, attempt) of the lock holder whose clean end it assumed."""


class DeadLetters(Protocol):
    """The DLQ outbox hook: a pending item applied with the completion, sent after it."""

    def hash_key(self, proc: PartitionProcessor) -> str: ...

    def pending(self, st: InvocationStatus, failure: records.Failure) -> tuple[str, bytes]: ...

    def send(self, proc: PartitionProcessor, field_: str, blob: bytes) -> None: ...

    async def flush(self, proc: PartitionProcessor) -> None: ...


class OutboxItem(msgspec.Struct, frozen=True, array_like=True):
    """A record to produce to another partition once the entry causing it is applied."""

    partition: int
    key: bytes
    record: bytes
    seq: int = 0
    """Creation order: a take-over re-sends pending items in this order (a Kill must not
    overtake the Invoke of the callee it kills)."""


_outcome_enc = msgspec.msgpack.Encoder()
_outcome_dec = msgspec.msgpack.Decoder(Outcome)
_WAITERS = "\x00waiters\x00"
_waiters_enc = msgspec.msgpack.Encoder()
_waiters_dec = msgspec.msgpack.Decoder(list[tuple[str, int]])

_outbox_enc = msgspec.msgpack.Encoder()
_outbox_dec = msgspec.msgpack.Decoder(OutboxItem)


@dataclass
class ProcessorDeps:
    prefix: str
    partitions: int
    store: PartitionStore
    producer: LogProducer
    redis: aioredis.Redis
    registry: Registry
    worker_id: str
    invoker: Invoker
    publisher: Publisher
    timer_cap: int = DEFAULT_CAP
    """Timers held in memory per partition, at most (the rest wait in Redis)."""
    timer_window_ms: int = DEFAULT_WINDOW_MS
    kafka_config: dict[str, Any] | None = None
    """For the egress sender's transactional producer; None disables egress sending."""
    dlq: DeadLetters | None = None
    """Produces dead letters of failed subscription invocations (``runtime.subscriptions``)."""


@dataclass
class _Batch:
    ops: list[Op] = field(default_factory=list)
    effects: list[Callable[[], Any]] = field(default_factory=list)
    state_keys: set[tuple[str, str]] = field(default_factory=set)
    """Objects whose state this batch writes (see ``object_state``)."""


class PartitionProcessor:
    def __init__(self, partition: int, deps: ProcessorDeps) -> None:
        self.partition = partition
        self.deps = deps
        self.keys = PartitionKeys(deps.prefix, partition)
        self.epoch = 0
        self.applied_next = 0
        """The offset after the last one applied in Redis (where a new owner resumes)."""
        self.leader_epoch = 0
        self.leading = False
        self.active: dict[str, InvocationStatus] = {}
        self.locks: dict[tuple[str, str], str] = {}
        self.inboxes: dict[tuple[str, str], deque[str]] = {}
        self.inbox_seq = 0
        self.state_cache: OrderedDict[tuple[str, str], dict[str, bytes]] = OrderedDict()
        self._state_loads: BatchLoader[tuple[str, str], dict[bytes, bytes]] = BatchLoader(
            lambda oks: deps.store.hgetall_many([self.keys.state(*ok) for ok in oks])
        )
        self._state_gen = 0
        self._state_loading = 0
        self._unapplied_writes: Counter[tuple[str, str]] = Counter()
        """Objects with state writes computed whose apply has not returned yet."""
        self._state_written: dict[tuple[str, str], int] = {}
        """Keys written while not cached, with the generation of the write, kept while
        state reads are in flight (``object_state``)."""
        self.promise_cache: dict[tuple[str, str], dict[str, bytes]] = {}
        self.answered: dict[str, int] = {}
        """How many ingress sinks the invoker answered on the fast path (not persisted)."""
        self.first_journal: dict[str, bytes] = {}
        self._unseen: dict[str, list[tuple[int, bytes]]] = {}
        """Per invocation, the notifications journaled since its attempt last appended
        entries, with their journal positions (not persisted): what the attempt may not
        have seen yet when it produced its next entries (see ``_on_journal``)."""
        self._spec: dict[tuple[str, str], _Spec] = {}
        """Per object key, the speculative attempt of its next exclusive call, if any."""
        self._clean_end: tuple[str, int] | None = None
        """(invocation id, attempt) whose Output is being applied, during that apply."""
        self._batch_completed: dict[str, InvocationStatus | None] = {}
        """Input entries of invocations not started yet: saves a journal read on start."""
        self.wheel = TimerWheel(
            deps.store,
            partition,
            self._fire_timer,
            lambda: self.leading,
            cap=deps.timer_cap,
            window_ms=deps.timer_window_ms,
        )
        self.cron = CronJobs(self.keys)
        self._queue: asyncio.Queue[list[Message]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._stopped = False
        self.failed: BaseException | None = None
        self._outbox_seq = 0
        self.on_drained: Callable[[int], None] | None = None
        """Called when the consumed backlog is nearly empty (resumes a paused fetch)."""
        self.egress = EgressOutbox()
        self.egress_sender: EgressSender | None = None
        self._egress_used = False
        self._offset = 0
        self._emits = 0

    # ------------------------------------------------------------------ ownership

    async def take_over(self) -> int:
        """Claim the partition and load its view; return the next log offset to read.

        Step 1. Claim a new Redis epoch: from now on a previous owner's applies fail.
        Step 2. Read the applied offset: consumption resumes right after it.
        Step 3. Load the active invocations, timers and outbox into memory; if this
                partition ever had an egress sender, take over its transactional.id
                now (aborting a dead owner's open transaction, which would otherwise
                stall read_committed consumption of the partition).
        Step 4. Append AnnounceLeader(epoch): once it is applied, records of older
                epochs are dropped and this processor starts driving invocations.
        """
        store = self.deps.store
        self.epoch = await store.claim(self.partition)  # Step 1.
        _, applied = await store.position(self.partition)  # Step 2.
        self.applied_next = applied + 1
        await self._load()  # Step 3.
        if self._egress_used and self.deps.kafka_config is not None:
            try:
                await self._egress().init()
            except Exception:  # noqa: BLE001 - the sender retries when it starts
                log.warning("partition %d: egress init at take-over failed", self.partition)
        announce = records.AnnounceLeader(self.epoch, self.deps.worker_id)  # Step 4.
        await self.deps.producer.append(self.partition, b"", announce)
        self._task = asyncio.create_task(self._run(), name=f"rt-processor-{self.partition}")
        self.wheel.start()
        return applied + 1

    async def _load(self) -> None:
        store = self.deps.store
        meta = await store.hgetall(self.keys.meta)
        self.leader_epoch = int(meta.get(b"leader", 0))
        self._egress_used = b"egress" in meta
        ids = [k.decode() for k in await store.hgetall(self.keys.active)]
        if ids:
            blobs = await store.mget([self.keys.inv(i) for i in ids])
            for blob in blobs:
                if blob is None:
                    continue
                st = decode_status(blob)
                self.active[st.invocation_id] = st
        for st in sorted(self.active.values(), key=lambda s: s.inbox_seq):
            ok = st.object_key
            if ok is None or not st.takes_lock:
                continue
            self.inbox_seq = max(self.inbox_seq, st.inbox_seq)
            if st.status is Status.INBOXED:
                self.inboxes.setdefault(ok, deque()).append(st.invocation_id)
            elif st.status is not Status.SCHEDULED:
                self.locks[ok] = st.invocation_id
        await self.wheel.load()
        await self.cron.load(store)
        self.egress.load(await store.hgetall(self.keys.egress))

    async def stop(self) -> None:
        self._stopped = True
        self.leading = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self.wheel.stop()
        if self.egress_sender is not None:
            await self.egress_sender.stop()
        for inv_id in list(self.active):
            self.deps.invoker.abort(inv_id)

    def offer(self, batch: list[Message]) -> None:
        """Called on the loop by the membership thread."""
        if not self._stopped:
            self._queue.put_nowait(batch)

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    # ------------------------------------------------------------------ the apply loop

    async def _run(self) -> None:
        try:
            while True:
                msgs = await self._queue.get()
                while not self._queue.empty() and len(msgs) < MAX_BATCH:
                    msgs.extend(self._queue.get_nowait())
                await self._process(msgs)
                if self.on_drained is not None and self._queue.qsize() <= 2:
                    self.on_drained(self.partition)
        except asyncio.CancelledError:
            raise
        except FencedError as e:
            log.warning("partition %d: fenced, stopping: %s", self.partition, e)
            self.failed = e
            self.leading = False
            self._stop_egress()
        except BaseException as e:
            log.exception("partition %d processor crashed", self.partition)
            self.failed = e
            self.leading = False
            self._stop_egress()

    async def _process(self, msgs: list[Message]) -> None:
        # The wheel refills under the same lock: it never reads between a batch's
        # timer bookkeeping and the apply that writes it.
        async with self.wheel.lock:
            await self._process_batch(msgs)

    async def _process_batch(self, msgs: list[Message]) -> None:
        """Apply one consumed batch.

        Step 1. Decode the records; skip offsets already applied (re-delivery).
        Step 2. Prefetch what the transitions need from Redis and is not in memory
                (status of completed invocations referenced by the batch).
        Step 3. Compute each record's transition in log order: Redis ops + effects.
        Step 4. Apply all ops and the new applied offset in one atomic script call;
                a stale epoch raises FencedError and nothing is written (invariant 2);
                an already-applied offset is a no-op (invariant 1).
        Step 5. Only now run the effects (start/resume attempts, answer callers,
                produce to other partitions, arm timers): nothing is visible before
                the record that caused it is durable and applied (invariant 4).
        """
        decoded: list[tuple[int, records.Record]] = []  # Step 1.
        for m in msgs:
            offset = m.offset()
            assert offset is not None
            value = m.value()
            try:
                rec = records.decode(value if isinstance(value, bytes) else b"")
            except msgspec.DecodeError:
                log.error(
                    "partition %d offset %d: undecodable record, skipped", self.partition, offset
                )
                decoded.append((offset, records.Purge("")))
                continue
            if isinstance(rec, records.SubscriptionBatch):
                decoded.extend((offset, inv) for inv in self._subscription_invokes(offset, rec))
                if len(decoded) >= MAX_BATCH:  # bound one apply (a batch record holds many)
                    await self._apply_decoded(decoded)
                    decoded = []
                continue
            decoded.append((offset, rec))
        if decoded:
            await self._apply_decoded(decoded)

    def _subscription_invokes(
        self, offset: int, batch: records.SubscriptionBatch
    ) -> list[records.Invoke]:
        try:
            expanded = invokes_of(batch, self.deps.partitions)
        except KeyError_ as e:  # intake dead-letters such records: never in a batch
            log.error(
                "partition %d offset %d: bad subscription batch: %s", self.partition, offset, e
            )
            return []
        out: list[records.Invoke] = []
        for part, inv in expanded:
            if part != self.partition:  # would be owned by the wrong partition: never run it
                log.error(
                    "partition %d offset %d: %s belongs to partition %d, skipped",
                    self.partition, offset, inv.invocation_id, part,
                )  # fmt: skip
                continue
            out.append(inv)
        return out

    async def _apply_decoded(self, decoded: list[tuple[int, records.Record]]) -> None:
        """Steps 2-5 for decoded records (in log order; several may share an offset)."""
        completed = await self._prefetch(rec for _, rec in decoded)  # Step 2.
        await self.wheel.prefetch(
            [rec.timer_id for _, rec in decoded if isinstance(rec, records.TimerFired)]
        )
        # Invocations completing in this batch join it, so a later Attach or duplicate
        # Invoke in the same batch still finds them.
        self._batch_completed = completed
        batch = _Batch()
        self._offset = -1
        for offset, rec in decoded:  # Step 3.
            if offset != self._offset:  # a batch record's Invokes number their emits on
                self._offset, self._emits = offset, 0
            self._apply_record(rec, batch, completed)
        last = decoded[-1][0]
        written = batch.state_keys
        self._unapplied_writes.update(written)
        try:
            result = await self.deps.store.apply(
                self.partition, self.epoch, last, batch.ops
            )  # Step 4.
        finally:
            self._unapplied_writes.subtract(written)
            for ok in written:
                if self._unapplied_writes[ok] <= 0:
                    del self._unapplied_writes[ok]
        self.applied_next = max(self.applied_next, last + 1)
        if result.already_applied:
            return
        for effect in batch.effects:  # Step 5.
            try:
                effect()
            except Exception:
                log.exception("partition %d: effect failed", self.partition)

    async def _prefetch(self, recs: Any) -> dict[str, InvocationStatus | None]:
        wanted: list[str] = []
        promise_keys: set[tuple[str, str]] = set()
        purging: set[str] = set()
        for rec in recs:
            inv_id = getattr(rec, "invocation_id", None)
            if isinstance(rec, records.TimerFired):
                inv_id = _retention_target(rec.timer_id)
            if isinstance(rec, (records.Purge, records.TimerFired)) and inv_id:
                purging.add(inv_id)
            if (
                isinstance(
                    rec,
                    (
                        records.Invoke,
                        records.Attach,
                        records.Purge,
                        records.AttachInvocation,
                        records.TimerFired,
                    ),
                )
                and inv_id
            ):
                fresh = isinstance(rec, records.Invoke) and rec.fresh_id
                if inv_id not in self.active and not fresh:
                    wanted.append(inv_id)
            elif isinstance(rec, records.AppendJournal):
                st = self.active.get(rec.invocation_id)
                if st is not None and st.attempt == rec.attempt and 0 <= rec.start < st.journal_len:
                    await self._learn_unseen(st, rec.start)
                ok = st.object_key if st is not None else None
                if ok is not None and ok not in self.promise_cache and self._is_workflow(st):
                    promise_keys.add(ok)
                if st is not None and ok is not None and self._lazy(st):
                    await self.object_state(ok)  # lazy reads are answered from the cache
        out: dict[str, InvocationStatus | None] = {}
        if wanted:
            blobs = await self.deps.store.mget([self.keys.inv(i) for i in wanted])
            for inv_id, blob in zip(wanted, blobs, strict=True):
                out[inv_id] = decode_status(blob) if blob is not None else None
        # A workflow purge keeps the promises' waiters, so it needs to know them.
        for inv_id in purging:
            st = out.get(inv_id)
            ok = st.object_key if st is not None and st.target.kind == "workflow" else None
            if ok is not None and ok not in self.promise_cache:
                promise_keys.add(ok)
        for ok in promise_keys:
            raw = await self.deps.store.hgetall(self.keys.promise(*ok))
            self.promise_cache[ok] = {k.decode(): v for k, v in raw.items()}
        return out

    def _lazy(self, st: InvocationStatus) -> bool:
        svc = self.deps.registry.get(st.target.service)
        handler = svc.handler(st.target.handler) if svc is not None else None
        return handler is not None and handler.lazy_state

    def _is_workflow(self, st: InvocationStatus | None) -> bool:
        if st is None:
            return False
        svc = self.deps.registry.get(st.target.service)
        return svc is not None and svc.ty.value == "Workflow"

    def _apply_record(
        self, rec: records.Record, b: _Batch, completed: dict[str, InvocationStatus | None]
    ) -> None:
        match rec:
            case records.AnnounceLeader():
                self._on_announce(rec, b)
            case records.Invoke():
                self._on_invoke(rec, b, completed)
            case records.AppendJournal():
                if rec.epoch >= self.leader_epoch:
                    self._on_journal(rec, b)
            case records.Complete():
                self._on_complete(
                    rec.invocation_id, rec.index, rec.value, rec.failure, b, awakeable=rec.awakeable
                )
            case records.Suspend():
                if rec.epoch >= self.leader_epoch:
                    self._on_suspend(rec, b)
            case records.AttemptFailed():
                if rec.epoch >= self.leader_epoch:
                    self._on_attempt_failed(rec, b)
            case records.TimerFired():
                if rec.epoch >= self.leader_epoch:
                    self._on_timer(rec.timer_id, b, completed)
            case records.Attach():
                self._on_attach(rec, b, completed)
            case records.Kill():
                self._on_kill(rec.invocation_id, "killed", b)
            case records.Cancel():
                self._on_cancel(rec.invocation_id, b)
            case records.Purge():
                self._on_purge(rec.invocation_id, b, completed)
            case records.SetObjectState():
                self._on_set_state(rec, b)
            case records.CronSchedule():
                self._apply_cron(self.cron.schedule(rec.job), b)
            case records.CronDelete():
                self._apply_cron(self.cron.delete(rec.job_id), b)
            case records.AttachInvocation():
                self._on_attach_invocation(rec, b, completed)
            case records.EgressDone():
                self._on_egress_done(rec, b)

    # ------------------------------------------------------------------ transitions

    def _save(self, st: InvocationStatus, b: _Batch) -> None:
        b.ops.append(Set(self.keys.inv(st.invocation_id), encode_status(st)))

    def _on_announce(self, rec: records.AnnounceLeader, b: _Batch) -> None:
        if rec.epoch <= self.leader_epoch and rec.epoch != self.epoch:
            return
        self.leader_epoch = max(self.leader_epoch, rec.epoch)
        b.ops.append(HSet(self.keys.meta, "leader", str(self.leader_epoch).encode()))
        if rec.epoch == self.epoch:
            b.effects.append(self._become_leader)

    def _become_leader(self) -> None:
        """Our AnnounceLeader is applied: resume everything the previous owner left running."""
        self.leading = True
        log.info("partition %d: leading with epoch %d", self.partition, self.epoch)
        for st in list(self.active.values()):
            if st.status is Status.INVOKED:
                self._start_attempt(st, None)
        self.wheel.wake()
        asyncio.get_running_loop().create_task(self._flush_outbox())
        if self.egress.pending:
            self._wake_egress()
        if self.deps.dlq is not None:
            asyncio.get_running_loop().create_task(self.deps.dlq.flush(self))

    def _on_invoke(
        self, rec: records.Invoke, b: _Batch, completed: dict[str, InvocationStatus | None]
    ) -> None:
        inv_id = rec.invocation_id
        existing = self.active.get(inv_id) or completed.get(inv_id)
        if existing is not None:
            self._on_duplicate_invoke(rec, existing, b)
            return
        now = now_ms()
        st = InvocationStatus(
            invocation_id=inv_id,
            target=rec.target,
            status=Status.SCHEDULED,
            created_ms=rec.created_at_ms or now,
            modified_ms=now,
            source=rec.source,
            idempotency_key=rec.idempotency_key,
            headers=dict(rec.headers),
            ingress_sinks=[rec.ingress_sink] if rec.ingress_sink and not rec.send else [],
            caller=rec.caller,
            send=rec.send,
            execute_at_ms=rec.execute_at_ms,
            parent_id=rec.parent_id,
            dlq=rec.dlq,
        )
        self.active[inv_id] = st
        b.ops.append(HSet(self.keys.active, inv_id, b"1"))
        input_blob = J.input_entry(rec.headers, rec.input)
        self.first_journal[inv_id] = input_blob
        b.ops.append(RPush(self.keys.journal(inv_id), [input_blob]))
        st.journal_len = 1
        st.commands = 1
        if rec.send and rec.ingress_sink is not None:
            self._respond(
                rec.ingress_sink,
                Response(rec.ingress_sink.request_id, inv_id, status="accepted"),
                b,
            )
        if rec.execute_at_ms is not None and rec.execute_at_ms > now:
            self._add_timer(Timer("scheduled", inv_id), rec.execute_at_ms, b)
            self._save(st, b)
            return
        self._enqueue(st, b)

    def _on_duplicate_invoke(self, rec: records.Invoke, st: InvocationStatus, b: _Batch) -> None:
        sink = rec.ingress_sink
        if sink is not None:
            if rec.target.kind == "workflow" and not rec.send:
                self._respond(
                    sink, Response(sink.request_id, st.invocation_id, status="duplicate_run"), b
                )
            elif rec.send:
                self._respond(
                    sink,
                    Response(sink.request_id, st.invocation_id, status="previously_accepted"),
                    b,
                )
            elif st.status is Status.COMPLETED:
                self._respond(sink, Response(sink.request_id, st.invocation_id, st.outcome), b)
            else:
                st.ingress_sinks.append(sink)
                self._save(st, b)
        if rec.caller is not None and rec.caller != st.caller and not rec.send:
            if rec.target.kind == "workflow":
                failure = records.Failure(409, "the workflow method was already invoked")
                self._send_completion(rec.caller, Outcome(failure=failure), b)
            elif st.status is Status.COMPLETED and st.outcome is not None:
                self._send_completion(rec.caller, st.outcome, b)

    def _enqueue(self, st: InvocationStatus, b: _Batch) -> None:
        """SCHEDULED -> INBOXED (key locked) or INVOKED (lock taken / no lock needed)."""
        ok = st.object_key
        if st.takes_lock and ok is not None:
            self.inbox_seq += 1
            st.inbox_seq = self.inbox_seq
            if ok in self.locks:
                st.move(Status.INBOXED, now_ms())
                self.inboxes.setdefault(ok, deque()).append(st.invocation_id)
                self._save(st, b)
                return
            self.locks[ok] = st.invocation_id
        self._invoke(st, b)

    def _invoke(self, st: InvocationStatus, b: _Batch, step: int = 1) -> None:
        if st.target.handler == SET_STATE_HANDLER:
            self._apply_state_update(st, b)
            return
        st.move(Status.INVOKED, now_ms())
        st.attempt += step
        self._save(st, b)
        b.effects.append(lambda: self._start_attempt(st, None))

    def _start_attempt(self, st: InvocationStatus, journal: list[bytes] | None) -> None:
        if not self.leading or self.active.get(st.invocation_id) is not st:
            return
        if st.status is not Status.INVOKED:
            return
        if self._spec:
            self._drop_spec_after(st.invocation_id)  # it runs again: its end is not clean
        first = self.first_journal.pop(st.invocation_id, None)
        if journal is None and first is not None and st.journal_len == 1:
            journal = [first]
        self.deps.invoker.start(self, st, journal)

    def _on_journal(self, rec: records.AppendJournal, b: _Batch) -> None:
        st = self.active.get(rec.invocation_id)
        if st is None or st.attempt != rec.attempt or st.status is not Status.INVOKED:
            return  # a stale attempt's late entries: the journal only grows from the current one
        tail: list[bytes] = []
        if rec.start >= 0 and rec.start != st.journal_len:
            unseen = self._unseen_from(st, rec.start)
            if unseen is None:
                # The log's order cannot be made the attempt's: drop the entries and
                # replay from the log's order (a ctx.run among them runs again).
                st.attempt += 1
                self._save(st, b)
                inv_id = st.invocation_id
                b.effects.append(lambda: self.deps.invoker.abort(inv_id))
                b.effects.append(lambda: self._start_attempt(st, None))
                return
            # Notifications were journaled while the attempt produced these entries; it
            # sees them only after its entries (they wait in its inbox). Put them after
            # the entries, so the journal is exactly what the attempt saw and a ctx.run
            # result among the entries stays journaled (never executed twice).
            b.ops.append(LTrim(self.keys.journal(st.invocation_id), 0, rec.start - 1))
            tail = [blob for _, blob in unseen]
            st.journal_len = rec.start
        else:
            self._unseen.pop(st.invocation_id, None)  # all seen: none before rec.start
        b.ops.append(RPush(self.keys.journal(st.invocation_id), [*rec.entries, *tail]))
        # All entries take their journal positions first: completions the processor
        # produces for them (lazy state, promises) come after them, as in Redis.
        indexed = []
        for blob in rec.entries:
            entry = J.decode(blob)
            index = st.commands if J.is_command(entry) else -1
            if index >= 0:
                st.commands += 1
            elif isinstance(entry, J.Completion):
                st.completed.append(entry.command_index)
            st.journal_len += 1
            indexed.append((entry, index))
        if tail:
            self._unseen[st.invocation_id] = [
                (st.journal_len + i, blob) for i, blob in enumerate(tail)
            ]
            st.journal_len += len(tail)
        done: Outcome | None = None
        for entry, index in indexed:
            out = self._apply_entry(st, entry, index, b)
            if out is not None:
                done = out
        if done is not None:
            self._clean_end = (st.invocation_id, st.attempt)
            try:
                self._complete(st, done, b)
            finally:
                self._clean_end = None
            return
        self._save(st, b)
        jl, attempt, inv_id = st.journal_len, st.attempt, st.invocation_id
        b.effects.append(lambda: self.deps.invoker.applied(inv_id, attempt, jl))

    async def _learn_unseen(self, st: InvocationStatus, start: int) -> None:
        """Entries ``start..journal_len-1`` of an attempt's journal that this processor did
        not journal itself (a previous owner did): read them from Redis, so whether the
        attempt's entries are reordered is decided by the log, not by which owner applies
        it. They can only be notifications: the attempt's own entries end before ``start``.
        """
        inv_id = st.invocation_id
        known = {pos for pos, _ in self._unseen.get(inv_id, ())}
        if all(pos in known for pos in range(start, st.journal_len)):
            return
        if st.journal_len - start > _UNSEEN_CAP:
            return  # the attempt replays instead, as it would on the first owner
        tail = await self.deps.store.lrange(self.keys.journal(inv_id), start, st.journal_len - 1)
        if len(tail) == st.journal_len - start:
            self._unseen[inv_id] = [(start + i, blob) for i, blob in enumerate(tail)]

    def _unseen_from(self, st: InvocationStatus, start: int) -> list[tuple[int, bytes]] | None:
        """The notifications at journal positions ``start..journal_len-1``, or None when
        they are not all known (journaled before this processor took over) or ``start``
        lies beyond the journal."""
        if start > st.journal_len:
            return None
        unseen = [u for u in self._unseen.get(st.invocation_id, ()) if u[0] >= start]
        if [pos for pos, _ in unseen] != list(range(start, st.journal_len)):
            return None
        return unseen

    def _apply_entry(
        self, st: InvocationStatus, entry: Any, index: int, b: _Batch
    ) -> Outcome | None:
        """Partition-side effects of one journal entry; returns the outcome for Output."""
        fx = J.effect_of(entry)
        ok = st.object_key
        match fx:
            case J.SetState(key=k, value=v) if ok is not None:
                b.ops.append(HSet(self.keys.state(*ok), k, v))
                cached = self.state_cache.get(ok)
                if cached is not None:
                    cached[k] = v
                self._state_write(ok, b)
            case J.ClearState(key=k) if ok is not None:
                b.ops.append(HDel(self.keys.state(*ok), k))
                cached = self.state_cache.get(ok)
                if cached is not None:
                    cached.pop(k, None)
                self._state_write(ok, b)
            case J.ClearAllState() if ok is not None:
                b.ops.append(Delete(self.keys.state(*ok)))
                self.state_cache[ok] = {}
                self._state_write(ok, b)
            case J.Output(outcome=outcome):
                return outcome
            case J.CallOrSend():
                self._on_call(st, fx, index, b)
            case J.Sleep(wake_up_ms=wake):
                self._add_timer(Timer("sleep", st.invocation_id, index), wake, b)
            case J.CompleteAwakeable(target_id=tid, target_index=tix, value=v, failure=f):
                rec = records.Complete(tid, tix, value=v, failure=f, awakeable=True)
                self._outbox(
                    partition_of_invocation(tid, self.deps.partitions), tid.encode(), rec, b
                )
            case J.CancelInvocation(target_id=tid) if _valid_invocation_id(tid):
                self._outbox(
                    partition_of_invocation(tid, self.deps.partitions),
                    tid.encode(),
                    records.Cancel(tid),
                    b,
                )
            case J.GetPromise(name=name) | J.PeekPromise(name=name) if ok in self.promise_cache:
                self._on_promise_read(st, ok, name, index, isinstance(fx, J.PeekPromise), b)
            case J.CompletePromise(name=name, value=v, failure=f) if ok in self.promise_cache:
                self._on_promise_complete(st, ok, name, index, v, f, b)
            case J.GetState(key=k) if ok is not None and self._lazy(st):
                value = self.state_cache.get(ok, {}).get(k)
                self._complete_index(st, index, value, None, b)
            case J.GetStateKeys() if ok is not None and self._lazy(st):
                keys = list(self.state_cache.get(ok, {}))
                self._complete_raw(st, index, J.state_keys_entry(index, keys), b)
            case J.Awakeable():
                st.awakeables.append(index)
            case J.AttachInvocation(target_id=tid, peek=peek):
                try:
                    part = partition_of_invocation(tid, self.deps.partitions)
                except InvalidIdError as e:
                    self._complete_index(st, index, None, records.Failure(400, str(e)), b)
                    return None
                att = records.AttachInvocation(
                    tid, records.CallerSink(st.invocation_id, index), peek
                )
                self._outbox(part, tid.encode(), att, b)
            case J.Emit():
                self._on_emit(st, fx, b)
            case _:
                pass
        return None

    def _on_call(self, st: InvocationStatus, fx: J.CallOrSend, index: int, b: _Batch) -> None:
        svc = self.deps.registry.get(fx.service)
        if svc is None or (handler := svc.handler(fx.handler)) is None:
            if not fx.send:
                msg = f"service '{fx.service}' handler '{fx.handler}' not found"
                self._complete_index(st, index, None, records.Failure(404, msg), b)
            return
        target = records.Target(fx.service, fx.handler, fx.key, target_kind(svc.ty, handler.kind))
        rec = records.Invoke(
            invocation_id=fx.invocation_id,
            target=target,
            input=fx.param,
            headers=dict(fx.headers),
            idempotency_key=fx.idempotency_key,
            source="service",
            caller=None if fx.send else records.CallerSink(st.invocation_id, index),
            send=fx.send,
            execute_at_ms=fx.invoke_time_ms,
            created_at_ms=now_ms(),
            parent_id=st.invocation_id,
        )
        if not fx.send:
            st.calls[index] = fx.invocation_id
        part = partition_of_invocation(fx.invocation_id, self.deps.partitions)
        self._outbox(part, routing_key_of(target, fx.invocation_id), rec, b)

    def _on_promise_read(
        self,
        st: InvocationStatus,
        ok: tuple[str, str],
        name: str,
        index: int,
        peek: bool,
        b: _Batch,
    ) -> None:
        promises = self.promise_cache[ok]
        value = promises.get(name)
        if value is not None:
            outcome = _outcome_dec.decode(value)
            self._complete_index(st, index, outcome.value, outcome.failure, b)
        elif peek:
            self._complete_index(st, index, b"", None, b)
        else:
            wkey = _WAITERS + name
            waiters = _waiters_dec.decode(promises[wkey]) if wkey in promises else []
            waiters.append((st.invocation_id, index))
            promises[wkey] = _waiters_enc.encode(waiters)
            b.ops.append(HSet(self.keys.promise(*ok), wkey, promises[wkey]))

    def _on_promise_complete(
        self,
        st: InvocationStatus,
        ok: tuple[str, str],
        name: str,
        index: int,
        value: bytes | None,
        failure: records.Failure | None,
        b: _Batch,
    ) -> None:
        promises = self.promise_cache[ok]
        if name in promises:
            failure_409 = records.Failure(409, "promise was already completed")
            self._complete_index(st, index, None, failure_409, b)
            return
        blob = _outcome_enc.encode(Outcome(value, failure))
        promises[name] = blob
        b.ops.append(HSet(self.keys.promise(*ok), name, blob))
        self._complete_index(st, index, b"", None, b)
        wkey = _WAITERS + name
        if wkey in promises:
            waiters = _waiters_dec.decode(promises.pop(wkey))
            b.ops.append(HDel(self.keys.promise(*ok), wkey))
            for waiter_id, widx in waiters:
                self._on_complete(waiter_id, widx, value, failure, b)

    def _complete_index(
        self,
        st: InvocationStatus,
        index: int,
        value: bytes | None,
        failure: records.Failure | None,
        b: _Batch,
    ) -> None:
        """A completion produced by the processor itself, appended right away."""
        self._on_complete(st.invocation_id, index, value, failure, b)

    def _complete_raw(self, st: InvocationStatus, index: int, blob: bytes, b: _Batch) -> None:
        self._on_complete(st.invocation_id, index, None, None, b, blob=blob)

    def _on_complete(
        self,
        inv_id: str,
        index: int,
        value: bytes | None,
        failure: records.Failure | None,
        b: _Batch,
        blob: bytes | None = None,
        awakeable: bool = False,
    ) -> None:
        st = self.active.get(inv_id)
        if st is None or index in st.completed or st.status is Status.COMPLETED:
            return  # unknown, finished, or a duplicate: first completion wins
        if awakeable and index < st.commands and index not in st.awakeables:
            return  # an awakeable id naming a command that is no awakeable (forged)
        if st.status in (Status.SCHEDULED, Status.INBOXED):
            return
        st.completed.append(index)
        st.calls.pop(index, None)
        if blob is None:
            blob = J.notification_entry(index, value, failure)
        b.ops.append(RPush(self.keys.journal(inv_id), [blob]))
        unseen = self._unseen.setdefault(inv_id, [])
        unseen.append((st.journal_len, blob))
        if len(unseen) > _UNSEEN_CAP:
            del unseen[0]  # the attempt replays instead if it had not seen that many
        st.journal_len += 1
        if st.status is Status.SUSPENDED and (index in st.awaiting or index == J.CANCEL_INDEX):
            st.move(Status.INVOKED, now_ms())
            st.attempt += 1
            st.awaiting = []
            self._save(st, b)
            b.effects.append(lambda: self._start_attempt(st, None))
            return
        self._save(st, b)
        if st.status is Status.INVOKED:
            attempt = st.attempt

            def feed() -> None:
                if self.leading:
                    self.deps.invoker.notify(inv_id, attempt, [blob])

            b.effects.append(feed)

    def _on_suspend(self, rec: records.Suspend, b: _Batch) -> None:
        st = self.active.get(rec.invocation_id)
        if st is None or st.attempt != rec.attempt or st.status is not Status.INVOKED:
            return
        if any(i in st.completed for i in rec.awaiting) or not rec.awaiting:
            # Completed while the attempt was deciding to suspend: resume at once.
            st.attempt += 1
            self._save(st, b)
            b.effects.append(lambda: self._start_attempt(st, None))
            return
        st.move(Status.SUSPENDED, now_ms())
        st.awaiting = list(rec.awaiting)
        self._save(st, b)

    def _on_attempt_failed(self, rec: records.AttemptFailed, b: _Batch) -> None:
        st = self.active.get(rec.invocation_id)
        if st is None or st.attempt != rec.attempt or st.status is not Status.INVOKED:
            return
        if self._spec:
            self._drop_spec_after(st.invocation_id)
        st.last_failure = records.Failure(rec.code, rec.message)
        st.retry_count += 1
        if rec.retry_at_ms is None and rec.pause:
            st.move(Status.PAUSED, now_ms())
            self._save(st, b)
            return
        if rec.retry_at_ms is None:
            self._complete(st, Outcome(failure=records.Failure(rec.code, rec.message)), b)
            return
        st.move(Status.BACKING_OFF, now_ms())
        st.retry_at_ms = rec.retry_at_ms
        self._save(st, b)
        self._add_timer(Timer("retry", st.invocation_id, attempt=st.attempt), rec.retry_at_ms, b)

    def _on_timer(
        self, member: bytes, b: _Batch, completed: dict[str, InvocationStatus | None]
    ) -> None:
        if not self.wheel.take(member):
            return  # already fired (a duplicate TimerFired)
        b.ops.append(ZRem(self.keys.timers, member))
        timer = _timer_dec.decode(member)
        if timer.kind == "cron":
            self._apply_cron(self.cron.tick(timer, now_ms()), b)
            return
        st = self.active.get(timer.invocation_id)
        if timer.kind == "retention":
            done = completed.get(timer.invocation_id)
            # ``index`` carries the completion time: a timer of an earlier, already
            # purged run of the same workflow id never purges a newer run.
            if done is not None and done.completed_ms == timer.index:
                self._purge_workflow(done, b)
            return
        if st is None:
            return
        if timer.kind == "sleep":
            self._on_complete(st.invocation_id, timer.index, b"", None, b)
        elif (
            timer.kind == "retry"
            and st.status is Status.BACKING_OFF
            and st.attempt == timer.attempt
        ):
            st.move(Status.INVOKED, now_ms())
            st.attempt += 1
            st.retry_at_ms = None
            self._save(st, b)
            b.effects.append(lambda: self._start_attempt(st, None))
        elif timer.kind == "scheduled" and st.status is Status.SCHEDULED:
            self._enqueue(st, b)

    def _on_attach(
        self, rec: records.Attach, b: _Batch, completed: dict[str, InvocationStatus | None]
    ) -> None:
        st = self.active.get(rec.invocation_id) or completed.get(rec.invocation_id)
        sink = rec.sink
        if st is None:
            self._respond(sink, Response(sink.request_id, rec.invocation_id, status="not_found"), b)
        elif st.status is Status.COMPLETED:
            self._respond(sink, Response(sink.request_id, rec.invocation_id, st.outcome), b)
        else:
            st.ingress_sinks.append(sink)
            self._save(st, b)

    def _on_kill(self, inv_id: str, message: str, b: _Batch) -> None:
        st = self.active.get(inv_id)
        if st is None:
            return
        if st.status is Status.INBOXED and st.object_key is not None:
            q = self.inboxes.get(st.object_key)
            if q is not None and inv_id in q:
                q.remove(inv_id)
        # As Restate: a kill also kills the callees of calls still waiting for their result.
        for callee in st.calls.values():
            part = partition_of_invocation(callee, self.deps.partitions)
            self._outbox(part, callee.encode(), records.Kill(callee), b)
        st.calls = {}
        b.effects.append(lambda: self.deps.invoker.abort(inv_id))
        self._complete(st, Outcome(failure=records.Failure(409, message)), b)

    def _on_cancel(self, inv_id: str, b: _Batch) -> None:
        st = self.active.get(inv_id)
        if st is None:
            return
        if st.status in (Status.INBOXED, Status.SCHEDULED):
            self._on_kill(inv_id, "cancelled", b)  # never started: nothing to compensate
            return
        if st.cancel_requested:
            return
        st.cancel_requested = True
        # Delivered as the built-in cancel notification; the handler sees it at its next await
        # (and its SDK cancels the calls it waits on, which propagates down the call chain).
        self._on_complete(inv_id, J.CANCEL_INDEX, None, records.Failure(409, "cancelled"), b)
        if st.status in (Status.BACKING_OFF, Status.PAUSED):
            # Retry now rather than at the backoff time, so the compensations run promptly.
            st.move(Status.INVOKED, now_ms())
            st.attempt += 1
            st.retry_at_ms = None
            self._save(st, b)
            b.effects.append(lambda: self._start_attempt(st, None))

    def _on_purge(
        self, inv_id: str, b: _Batch, completed: dict[str, InvocationStatus | None]
    ) -> None:
        if not inv_id:
            return
        st = completed.get(inv_id)
        if st is not None and st.status is Status.COMPLETED:
            if st.target.kind == "workflow":
                self._purge_workflow(st, b)
                return
            b.ops.append(Delete(self.keys.inv(inv_id)))
            b.ops.append(Delete(self.keys.journal(inv_id)))
            self._batch_completed[inv_id] = None  # later records of this batch see it gone

    def _purge_workflow(self, st: InvocationStatus, b: _Batch) -> None:
        """Forget a completed workflow run with its state and promises (retention over).

        A later ``run`` for the same id then starts afresh, as in Restate after purge.
        """
        inv_id = st.invocation_id
        b.ops.append(Delete(self.keys.inv(inv_id)))
        b.ops.append(Delete(self.keys.journal(inv_id)))
        self._batch_completed[inv_id] = None  # later records of this batch see it gone
        ok = st.object_key
        if ok is None:
            return
        b.ops.append(Delete(self.keys.state(*ok)))
        b.ops.append(Delete(self.keys.promise(*ok)))
        self.state_cache.pop(ok, None)
        self._state_write(ok, b)
        # Values go; handlers still waiting on a promise stay registered, so they get
        # the value if the promise is completed later (by a new run or a shared handler).
        waiting = {
            k: v for k, v in self.promise_cache.pop(ok, {}).items() if k.startswith(_WAITERS)
        }
        for wkey, blob in waiting.items():
            b.ops.append(HSet(self.keys.promise(*ok), wkey, blob))
        self.promise_cache[ok] = waiting

    def _on_attach_invocation(
        self,
        rec: records.AttachInvocation,
        b: _Batch,
        completed: dict[str, InvocationStatus | None],
    ) -> None:
        """A handler attaches to (or peeks at) an invocation of this partition."""
        st = self.active.get(rec.invocation_id) or completed.get(rec.invocation_id)
        caller = rec.caller
        if st is None:
            failure = records.Failure(404, "invocation not found")
            self._send_completion(caller, Outcome(failure=failure), b)
        elif st.status is Status.COMPLETED and st.outcome is not None:
            self._send_completion(caller, st.outcome, b)
        elif rec.peek:
            self._send_completion(caller, Outcome(), b)  # Void: not completed yet
        elif caller not in st.attachers:
            st.attachers.append(caller)
            self._save(st, b)

    def _on_set_state(self, rec: records.SetObjectState, b: _Batch) -> None:
        """Admin state replacement, queued behind the key's lock like an exclusive invocation."""
        inv_id = f"setstate-{self.partition}-{now_ms()}-{self.inbox_seq}"
        now = now_ms()
        st = InvocationStatus(
            invocation_id=inv_id,
            target=records.Target(rec.service, SET_STATE_HANDLER, rec.key, "exclusive"),
            status=Status.SCHEDULED,
            created_ms=now,
            modified_ms=now,
            source="admin",
            state_update=dict(rec.state),
        )
        self.active[inv_id] = st
        b.ops.append(HSet(self.keys.active, inv_id, b"1"))
        self._enqueue(st, b)

    def _apply_state_update(self, st: InvocationStatus, b: _Batch) -> None:
        ok = st.object_key
        assert ok is not None
        new = st.state_update or {}
        b.ops.append(Delete(self.keys.state(*ok)))
        for k, v in new.items():
            b.ops.append(HSet(self.keys.state(*ok), k, v))
        self.state_cache[ok] = dict(new)
        self._state_write(ok, b)
        st.status = Status.INVOKED
        self._complete(st, Outcome(value=b""), b)

    # ------------------------------------------------------------------ completion

    def _retention_ms(self, st: InvocationStatus) -> int:
        svc = self.deps.registry.get(st.target.service)
        if svc is None:
            return DEFAULT_RETENTION_MS
        if st.target.kind == "workflow":
            return int(svc.workflow_retention_s * 1000)
        h = svc.handler(st.target.handler)
        if st.idempotency_key is not None:
            over = h.idempotency_retention_s if h is not None else None
            return int((svc.idempotency_retention_s if over is None else over) * 1000)
        over = h.journal_retention_s if h is not None else None
        return int((svc.journal_retention_s if over is None else over) * 1000)

    def _complete(self, st: InvocationStatus, outcome: Outcome, b: _Batch) -> None:
        """Finish an invocation: store the outcome, answer everyone, pass the lock on."""
        inv_id = st.invocation_id
        st.move(Status.COMPLETED, now_ms())
        st.outcome = outcome
        done_ms = st.completed_ms = now_ms()
        st.completed = []
        st.awaiting = []
        st.calls = {}
        retention = max(self._retention_ms(st), 1)
        st.retention_ms = retention
        self.active.pop(inv_id, None)
        self._batch_completed[inv_id] = st
        self.first_journal.pop(inv_id, None)
        self._unseen.pop(inv_id, None)
        b.ops.append(HDel(self.keys.active, inv_id))
        if st.target.handler == SET_STATE_HANDLER:
            b.ops.append(Delete(self.keys.inv(inv_id)))
            b.ops.append(Delete(self.keys.journal(inv_id)))
        elif st.target.kind == "workflow":
            # Kept until the retention timer purges the run together with the
            # workflow's state and promises (a Redis TTL could not clear those).
            self._save(st, b)
            self._add_timer(Timer("retention", inv_id, index=done_ms), done_ms + retention, b)
        else:
            self._save(st, b)
            keep = retention if st.idempotency_key is not None else max(retention, ANSWER_GRACE_MS)
            b.ops.append(PExpire(self.keys.inv(inv_id), keep))
            b.ops.append(PExpire(self.keys.journal(inv_id), retention))
        answered = self.answered.pop(inv_id, 0)
        for i, sink in enumerate(st.ingress_sinks):
            self._respond(sink, Response(sink.request_id, inv_id, outcome), b, i < answered)
        st.ingress_sinks = []
        if st.caller is not None:
            self._send_completion(st.caller, outcome, b)
        for attacher in st.attachers:
            self._send_completion(attacher, outcome, b)
        st.attachers = []
        if st.dlq is not None and outcome.failure is not None and self.deps.dlq is not None:
            self._dead_letter(self.deps.dlq, st, outcome.failure, b)
        b.effects.append(lambda: self.deps.invoker.abort(inv_id))
        self._release_lock(st, b)

    def _dead_letter(
        self, dlq: DeadLetters, st: InvocationStatus, failure: records.Failure, b: _Batch
    ) -> None:
        """A failed subscription invocation: its record goes to the DLQ once this is applied."""
        field_, blob = dlq.pending(st, failure)
        b.ops.append(HSet(dlq.hash_key(self), field_, blob))
        b.effects.append(lambda: dlq.send(self, field_, blob))

    def _release_lock(self, st: InvocationStatus, b: _Batch) -> None:
        ok = st.object_key
        if ok is None or not st.takes_lock or self.locks.get(ok) != st.invocation_id:
            return
        del self.locks[ok]
        spec = self._spec.pop(ok, None)
        clean = self._clean_end is not None and self._clean_end[0] == st.invocation_id
        q = self.inboxes.get(ok)
        while q:
            nxt = self.active.get(q.popleft())
            if nxt is None or nxt.status is not Status.INBOXED:
                continue
            self.locks[ok] = nxt.invocation_id
            if (
                spec is not None
                and spec.invocation_id == nxt.invocation_id
                and spec.pred == self._clean_end
            ):
                self._adopt(nxt, spec, b)
                spec = None
                break
            # After a clean end the next attempt takes the number a speculation would
            # have had (+2), otherwise +1: decided by the log alone, so an owner that
            # replays it after a crash accepts exactly the speculative entries that
            # were valid (ADR 0013).
            self._invoke(nxt, b, step=SPEC_STEP if clean else 1)
            break
        if spec is not None:
            self._drop_spec(spec)
        if q is not None and not q:
            self.inboxes.pop(ok, None)

    # ------------------------------------------------------------------ speculative hand-off

    def speculate(self, pred: InvocationStatus, attempt: int, state: dict[str, bytes]) -> None:
        """The lock holder ``pred`` returned and appended its end (attempt ``attempt``),
        ending with ``state``: start the head of its key's inbox now, on that state.

        Its entries are appended after ``pred``'s end on the same partition, so the
        processor sees them only after deciding, at that end, whether the speculation
        holds: ``pred`` ended by that Output of that attempt (all its state changes
        applied). Then the attempt is adopted; otherwise it is aborted and the call
        starts afresh (its ``ctx.run`` actions may run again: at least once). Nothing
        of it is visible before adoption (no early answer; its records are rejected).
        """
        ok = pred.object_key
        if (
            ok is None
            or not self.leading
            or ok in self._spec
            or self.locks.get(ok) != pred.invocation_id
            or pred.status is not Status.INVOKED
            or pred.attempt != attempt
        ):
            return
        q = self.inboxes.get(ok)
        nxt = self.active.get(q[0]) if q else None
        if (
            nxt is None
            or nxt.status is not Status.INBOXED
            or nxt.target.kind != "exclusive"
            or nxt.target.handler == SET_STATE_HANDLER
            or nxt.journal_len != 1
            or self._lazy(nxt)
        ):
            return
        first = self.first_journal.get(nxt.invocation_id)
        if first is None:
            return
        spec_attempt = nxt.attempt + SPEC_STEP
        if self.deps.invoker.speculate(self, nxt, spec_attempt, [first], state):
            self._spec[ok] = _Spec(nxt.invocation_id, spec_attempt, (pred.invocation_id, attempt))

    def _adopt(self, st: InvocationStatus, spec: _Spec, b: _Batch) -> None:
        st.move(Status.INVOKED, now_ms())
        st.attempt = spec.attempt
        self._save(st, b)
        self.first_journal.pop(st.invocation_id, None)
        b.effects.append(lambda: self._adopted(st, spec.attempt))

    def _adopted(self, st: InvocationStatus, attempt: int) -> None:
        """After the apply: the speculative attempt is the invocation's attempt. If it has
        died meanwhile it left its record (end, failure or suspension) in the log."""
        if not self.leading or self.active.get(st.invocation_id) is not st:
            return
        ended_with = self.deps.invoker.adopt(st.invocation_id, attempt)
        if ended_with is not None and st.status is Status.INVOKED and st.attempt == attempt:
            self.speculate(st, attempt, ended_with)

    def _drop_spec(self, spec: _Spec) -> None:
        """The speculation did not hold: stop it. Its entries carry its attempt number,
        which the call does not take before all of them are applied, so all are rejected:
        queued call, or a number one lower after an unclean hand-off."""
        self.deps.invoker.abort_attempt(spec.invocation_id, spec.attempt)

    def _drop_spec_after(self, pred_id: str) -> None:
        for ok, spec in list(self._spec.items()):
            if spec.pred[0] == pred_id:
                del self._spec[ok]
                self._drop_spec(spec)

    def _send_completion(self, caller: records.CallerSink, outcome: Outcome, b: _Batch) -> None:
        rec = records.Complete(caller.invocation_id, caller.index, outcome.value, outcome.failure)
        part = partition_of_invocation(caller.invocation_id, self.deps.partitions)
        self._outbox(part, caller.invocation_id.encode(), rec, b)

    def _respond(
        self, sink: records.IngressSink, resp: Response, b: _Batch, answered: bool = False
    ) -> None:
        if answered:
            return  # the invoker already answered this caller when the output became durable
        payload = encode_response(resp)
        chan = channel(self.deps.prefix, sink.ingress_id)

        def publish() -> None:
            # Even before leading: answers are idempotent (the ingress drops duplicates), and
            # a caller whose Invoke is applied during catch-up must not wait for nothing.
            if not self._stopped:
                self.deps.publisher.publish(chan, payload)

        b.effects.append(publish)

    # ------------------------------------------------------------------ outbox

    def _outbox(self, partition: int, key: bytes, rec: records.Record, b: _Batch) -> None:
        self._outbox_seq = max(self._outbox_seq + 1, time.time_ns())
        item = OutboxItem(partition, key, records.encode(rec), self._outbox_seq)
        blob = _outbox_enc.encode(item)
        field_ = _digest(blob)
        b.ops.append(HSet(self.keys.outbox, field_, blob))
        b.effects.append(lambda: self._send_outbox(field_, item))

    def _send_outbox(self, field_: str, item: OutboxItem) -> None:
        if not self.leading:
            return
        rec = records.decode(item.record)
        fut = self.deps.producer.append(item.partition, item.key, rec)

        def delivered(f: asyncio.Future[int]) -> None:
            if f.exception() is None and not self._stopped:
                asyncio.get_running_loop().create_task(self._outbox_done(field_))

        fut.add_done_callback(delivered)

    async def _outbox_done(self, field_: str) -> None:
        try:
            await self.deps.redis.hdel(self.keys.outbox, field_)
        except Exception:  # noqa: BLE001 - re-sent after a take-over; targets dedupe
            log.debug("outbox cleanup failed", exc_info=True)

    async def _flush_outbox(self) -> None:
        items = await self.deps.store.hgetall(self.keys.outbox)
        pending = sorted(
            ((f.decode(), _outbox_dec.decode(blob)) for f, blob in items.items()),
            key=lambda fi: fi[1].seq,
        )
        for f, item in pending:
            self._send_outbox(f, item)

    # ------------------------------------------------------------------ egress

    def _on_emit(self, st: InvocationStatus, fx: J.Emit, b: _Batch) -> None:
        """Journal entry durable and applied: the record joins the egress outbox."""
        item = EgressItem(fx.topic, fx.key, fx.value, fx.headers, st.invocation_id)
        field_ = position_field(self._offset, self._emits)
        self._emits += 1
        b.ops.append(HSet(self.keys.egress, field_, encode_item(item)))

        def queue() -> None:
            # Only now, after the apply: the sender never sees an entry Redis lacks.
            self.egress.add(field_, item)
            self._wake_egress()

        b.effects.append(queue)

    def _on_egress_done(self, rec: records.EgressDone, b: _Batch) -> None:
        self.egress.done(rec.fields)
        for field_ in rec.fields:
            b.ops.append(HDel(self.keys.egress, field_))
        sender = self.egress_sender
        if sender is not None:
            token = rec.token
            b.effects.append(lambda: sender.applied(token))

    def _wake_egress(self) -> None:
        """Start (first use) or wake the sender; only the leader sends."""
        if not self.leading or self._stopped or self.deps.kafka_config is None:
            return
        sender = self._egress()
        sender.start()
        sender.wake()

    def _stop_egress(self) -> None:
        if self.egress_sender is not None:
            asyncio.get_running_loop().create_task(self.egress_sender.stop())

    def _egress(self) -> EgressSender:
        if self.egress_sender is None:
            assert self.deps.kafka_config is not None
            self.egress_sender = EgressSender(
                self.partition,
                self.deps.kafka_config,
                self.deps.prefix,
                self.deps.producer.topics.log,
                self.egress,
                self.append,
                self._mark_egress_used,
            )
        return self.egress_sender

    async def _mark_egress_used(self) -> None:
        """Durable before the first transaction: tells a future owner to fence at take-over."""
        if not self._egress_used:
            await self.deps.redis.hset(self.keys.meta, "egress", "1")
            self._egress_used = True

    # ------------------------------------------------------------------ timers

    def _add_timer(self, timer: Timer, due_ms: int, b: _Batch) -> None:
        member = _timer_enc.encode(timer)
        b.ops.append(ZAdd(self.keys.timers, float(due_ms), member))
        self.wheel.add(due_ms, member)

    def _apply_cron(self, ch: CronChanges, b: _Batch) -> None:
        """A cron definition change or tick: state, timers and the tick's Invoke, atomically."""
        b.ops.extend(ch.ops)
        for member in ch.disarm:
            self.wheel.discard(member)
            b.ops.append(ZRem(self.keys.timers, member))
        for timer, due in ch.arm:
            self._add_timer(timer, due, b)
        if ch.invoke is not None:
            inv = ch.invoke
            part = partition_of_invocation(inv.invocation_id, self.deps.partitions)
            self._outbox(part, routing_key_of(inv.target, inv.invocation_id), inv, b)

    def _fire_timer(self, member: bytes) -> asyncio.Future[int]:
        return self.deps.producer.append(
            self.partition, b"", records.TimerFired(self.epoch, member)
        )

    # ------------------------------------------------------------------ state for attempts

    async def object_state(self, ok: tuple[str, str]) -> dict[str, bytes]:
        """The applied state of an object (cached; only this processor writes it)."""
        cached = self.state_cache.get(ok)
        if cached is not None:
            self.state_cache.move_to_end(ok)
            return cached
        gen = self._state_gen
        unapplied = ok in self._unapplied_writes
        self._state_loading += 1
        try:
            raw = await self._state_loads.get(ok)
        finally:
            self._state_loading -= 1
        state = {k.decode(): v for k, v in raw.items()}
        if ok in self.state_cache:  # applied meanwhile: the cache is newer
            return self.state_cache[ok]
        written = self._state_written.get(ok, 0) > gen
        if not self._state_loading:
            self._state_written.clear()
        if unapplied or written:
            # A write was computed before its apply ran or while this read was in flight
            # (reads use another connection, so Redis may have served the read first): a
            # committed state for a shared reader, but maybe older than the write, so it
            # is never cached for the next exclusive handler.
            return state
        self.state_cache[ok] = state
        while len(self.state_cache) > STATE_CACHE_KEYS:
            self.state_cache.popitem(last=False)
        return state

    def _state_write(self, ok: tuple[str, str], b: _Batch) -> None:
        """The batch writes ``ok``'s state: a read of it in flight, or started before the
        apply, must not be cached (it may have read the state before the write)."""
        b.state_keys.add(ok)
        if self._state_loading:
            self._state_gen += 1
            self._state_written[ok] = self._state_gen

    async def load_journal(self, inv_id: str) -> list[bytes]:
        return await self.deps.store.lrange_all(self.keys.journal(inv_id))

    def append(self, rec: records.Record) -> asyncio.Future[int]:
        """Produce a record of this partition's own invocations (journal, suspend, failure)."""
        return self.deps.producer.append(self.partition, b"", rec)


def _valid_invocation_id(text: str) -> bool:
    """A handler-supplied id that can be routed (a bad one must not crash the partition)."""
    try:
        parse_invocation_id(text)
    except InvalidIdError:
        return False
    return True


def _retention_target(member: bytes) -> str | None:
    """The workflow run a retention timer purges (its status is needed to find its key)."""
    try:
        timer = _timer_dec.decode(member)
    except msgspec.DecodeError:
        return None
    return timer.invocation_id if timer.kind == "retention" else None


def _digest(blob: bytes) -> str:
    return hashlib.blake2b(blob, digest_size=12).hexdigest()
