"""The partition processor: the I/O shell of one partition's machine.

Exactly one processor drives a partition (invariant 2). It takes the partition
over, consumes its records, has the pure :class:`PartitionMachine` compute each
batch's transition (the machine keeps the in-memory view: active invocations,
locks, inboxes, timers, recent object state), applies the resulting Redis ops
in one atomic script call, and runs the resulting effects: starting and
feeding attempts, answering callers, producing to other partitions, egress and
dead letters. See ``docs/decisions/0002-log-records-and-processor.md`` and
``docs/decisions/0015-partition-machine.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from confluent_kafka import Message

from runtime.log import records
from runtime.log.batch_producer import BatchFenced
from runtime.log.producer import LogProducer
from runtime.partition import effects as E
from runtime.partition import metering
from runtime.partition.answers import Answers, Publish
from runtime.partition.attempts import PartitionHost
from runtime.partition.batching import Batching, BatchProducing, BatchRunner
from runtime.partition.contract import Invoker
from runtime.partition.features import (
    DeadLetters,
    EgressSenderFactory,
    EgressSending,
    TimerServiceFactory,
)
from runtime.partition.housekeeping import egress_used, mark_egress_used
from runtime.partition.machine import ANSWER_GRACE_MS, BatchExpander, PartitionMachine
from runtime.partition.outbox import OutboxItem, OutboxSender
from runtime.partition.prefetch import prefetch
from runtime.partition.services import ServiceCatalog
from runtime.partition.state_cache import ObjectStates
from runtime.partition.status import InvocationStatus, decode_status
from runtime.registry import Registry
from runtime.state.keys import PartitionKeys
from runtime.state.store import FencedError, PartitionStore

__all__ = [
    "ANSWER_GRACE_MS",  # (defined by the machine; long imported from here)
    "OutboxItem",  # (defined by the outbox; long imported from here)
    "PartitionProcessor",
    "ProcessorDeps",
]

log = logging.getLogger("rt.processor")


class PartitionHalted(RuntimeError):
    """An rt-shaped record of the partition cannot be read (names topic, partition,
    offset and why): the processor stops rather than skip it (nothing lost)."""


MAX_BATCH = 2_000


def now_ms() -> int:
    return int(time.time() * 1000)


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
    publisher: Publish
    expand_batch: BatchExpander
    """Expands subscription batches (``runtime.subscriptions.mapping.invokes_of``)."""
    timers: TimerServiceFactory
    """Builds each partition's timer service (``runtime.timers.wheel.TimerWheel``)."""
    egress: EgressSenderFactory | None = None
    """Builds a partition's egress sender on first use (``runtime.egress.sender``);
    None disables egress sending."""
    dlq: DeadLetters | None = None
    """Produces dead letters of failed subscription invocations (``runtime.subscriptions``)."""
    batching: Batching | None = None
    """Batched execution (ADR 0020): how attempts run inline and how batches commit;
    None runs every attempt on the normal path."""


class PartitionProcessor:
    """Drives one partition while this worker owns it.

    Args:
        partition: The rt.log partition.
        deps: What it works with (store, producer, registry, invoker, publisher...).
    """

    def __init__(self, partition: int, deps: ProcessorDeps) -> None:
        self.partition = partition
        self.deps = deps
        self.keys = keys = PartitionKeys(deps.prefix, partition)
        self.epoch = 0
        self.applied_next = 0
        """The offset after the last one applied in Redis (where a new owner resumes)."""
        self.leading = False
        self.states = ObjectStates(
            lambda oks: deps.store.hgetall_many([keys.state(*ok) for ok in oks])
        )
        self.wheel = deps.timers(deps.store, partition, self._fire_timer, lambda: self.leading)
        self.machine = PartitionMachine(
            keys,
            deps.partitions,
            ServiceCatalog(deps.registry),
            self.wheel,
            self.states,
            deps.expand_batch,
            deps.dlq,
        )
        self.outbox = OutboxSender(
            keys,
            deps.producer,
            deps.store,
            deps.redis,
            leading=lambda: self.leading,
            stopped=lambda: self._stopped,
        )
        self.answers = Answers(deps.publisher, deps.prefix, lambda: self._stopped)
        self.host = PartitionHost(
            self.machine,
            deps.invoker,
            self.answers,
            append=self.append,
            load_journal=self.load_journal,
            epoch=lambda: self.epoch,
            leading=lambda: self.leading,
        )
        self._queue: asyncio.Queue[list[Message]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._stopped = False
        self.failed: BaseException | None = None
        self.halted: PartitionHalted | None = None
        """Set when a record rt must not skip cannot be read: the partition stops here."""
        self.on_drained: Callable[[int], None] | None = None
        """Called when the consumed backlog is nearly empty (resumes a paused fetch)."""
        self.egress_sender: EgressSending | None = None
        self.batch: BatchRunner | None = None
        self.batch_producer: BatchProducing | None = None
        if deps.batching is not None:
            self.batch_producer = deps.batching.producer(partition)
            self.batch = self.host.batch = BatchRunner(
                self.machine,
                self.host,
                deps.batching.invoker,
                self.batch_producer,
                start_live=self.host.start_live,
                max_items=deps.batching.max_items,
                leading=lambda: self.leading,
            )
        self._egress_used = False
        self._run_effect: dict[type, Callable[[Any], None]] = {
            **self.host.effect_handlers(),
            E.BecomeLeader: self._become_leader,
            E.Respond: self._respond,
            E.Answer: self._answer,
            E.Produce: self._produce,
            E.QueueEgress: self._queue_egress,
            E.EgressApplied: self._egress_applied,
            E.DeadLetter: self._dead_letter,
        }

    # ------------------------------------------------------------------ ownership

    async def take_over(self) -> int:
        """Claim the partition and load its view; return the next log offset to read.

        Step 1. Claim a new Redis epoch: from now on a previous owner's applies fail.
        Step 2. Read the applied offset: consumption resumes right after it.
        Step 3. Load the active invocations, timers and outbox into memory; if this
                partition ever had an egress sender, take over its transactional.id
                now (aborting a dead owner's open transaction, which would otherwise
                stall read_committed consumption of the partition).
                With batched execution, take the partition's batch transactional.id
                over: a previous owner's batch can no longer commit.
        Step 4. Append AnnounceLeader(epoch): once it is applied, records of older
                epochs are dropped and this processor starts driving invocations.
        """
        store = self.deps.store
        self.epoch = self.machine.epoch = await store.claim(self.partition)  # Step 1.
        _, applied = await store.position(self.partition)  # Step 2.
        self.applied_next = applied + 1
        await self._load()  # Step 3.
        if self._egress_used and self.deps.egress is not None:
            try:
                await self._egress().init()
            except Exception:  # noqa: BLE001 - the sender retries when it starts
                log.warning("partition %d: egress init at take-over failed", self.partition)
        if self.batch_producer is not None:
            await self.batch_producer.init()
        announce = records.AnnounceLeader(self.epoch, self.deps.worker_id)  # Step 4.
        await self.deps.producer.append(self.partition, b"", announce)
        self._task = asyncio.create_task(self._run(), name=f"rt-processor-{self.partition}")
        self.wheel.start()
        return applied + 1

    async def _load(self) -> None:
        store = self.deps.store
        meta = await store.hgetall(self.keys.meta)
        self._egress_used = egress_used(meta)
        ids = [k.decode() for k in await store.hgetall(self.keys.active)]
        blobs = await store.mget([self.keys.inv(i) for i in ids]) if ids else []
        self.machine.restore(
            (decode_status(blob) for blob in blobs if blob is not None),
            int(meta.get(b"leader", 0)),
        )
        await self.wheel.load()
        await self.machine.cron.load(store)
        self.machine.egress.load(await store.hgetall(self.keys.egress))

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
        self.host.abort_all()
        if self.batch_producer is not None:
            await self.batch_producer.close()

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
        except (FencedError, BatchFenced) as e:
            log.warning("partition %d: fenced, stopping: %s", self.partition, e)
            self.failed = e
            self.leading = False
            self._stop_egress()
        except PartitionHalted as e:
            log.error(
                "HALTED %s. This partition applies nothing more on this node until rt "
                "can read the record (a newer rt wrote it: upgrade this node) — skipping "
                "it could lose an invocation's step; other partitions go on.",
                e,
            )
            self.failed = self.halted = e
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
        Step 3. Compute each record's transition in log order (the pure machine):
                Redis ops + effects.
        Step 4. Apply all ops and the new applied offset in one atomic script call;
                a stale epoch raises FencedError and nothing is written (invariant 2);
                an already-applied offset is a no-op (invariant 1).
        Step 5. Only now run the effects, in order (start/resume attempts, answer
                callers, produce to other partitions, wake the egress sender, send
                dead letters): nothing is visible before the record that caused it is
                durable and applied (invariant 4).
        """
        decoded: list[tuple[int, records.Record]] = []  # Step 1.
        for m in msgs:
            offset = m.offset()
            assert offset is not None
            value = m.value()
            try:
                rec = records.decode_checked(value if isinstance(value, bytes) else b"")
            except records.ForeignRecordError as e:
                # Another producer's record: nothing of rt's is in it, so nothing is lost.
                log.error(
                    "%s partition %d offset %d: %s, skipped",
                    m.topic(), self.partition, offset, e,
                )  # fmt: skip
                metering.foreign_record(self.partition)
                decoded.append((offset, records.Purge("")))
                continue
            except records.UnreadableRecordError as e:
                if decoded:  # what came before it is applied; nothing after it
                    await self._apply_decoded(decoded)
                raise PartitionHalted(
                    f"{m.topic()} partition {self.partition} offset {offset}: {e}"
                ) from None
            if isinstance(rec, records.SubscriptionBatch):
                invokes = self.machine.expand(offset, rec)
                if offset >= self.applied_next:  # not a re-delivery: counted once
                    metering.subscription_records(rec.subscription_id, len(invokes))
                decoded.extend((offset, inv) for inv in invokes)
                if len(decoded) >= MAX_BATCH:  # bound one apply (a batch record holds many)
                    await self._apply_decoded(decoded)
                    decoded = []
                continue
            decoded.append((offset, rec))
        if decoded:
            await self._apply_decoded(decoded)

    async def _apply_decoded(self, decoded: list[tuple[int, records.Record]]) -> None:
        """Steps 2-5 for decoded records (in log order; several may share an offset)."""
        completed = await self._prefetch(rec for _, rec in decoded)  # Step 2.
        await self.wheel.prefetch(
            [rec.timer_id for _, rec in decoded if isinstance(rec, records.TimerFired)]
        )
        batch = self.machine.apply(decoded, completed, now_ms())  # Step 3.
        last = decoded[-1][0]
        written = batch.state_keys
        self.states.applying(written)
        started = time.perf_counter()
        try:
            result = await self.deps.store.apply(
                self.partition, self.epoch, last, batch.ops
            )  # Step 4.
        finally:
            self.states.applied(written)
        self.applied_next = max(self.applied_next, last + 1)
        if result.already_applied:
            return
        metering.applied(batch.tally, len(decoded), time.perf_counter() - started)
        run = self._run_effect
        for effect in batch.effects:  # Step 5.
            try:
                run[type(effect)](effect)
            except Exception:
                log.exception("partition %d: effect failed", self.partition)
        runner = self.batch
        if runner is not None:
            if runner.failed is not None:
                raise runner.failed  # its attempts have no live runner: stop, a new owner runs them
            if runner.pending:
                await runner.flush()

    async def _prefetch(self, recs: Any) -> dict[str, InvocationStatus | None]:
        return await prefetch(self.machine, recs, self.deps.store)

    # ------------------------------------------------------------------ effects

    def _become_leader(self, _: E.BecomeLeader) -> None:
        """Our AnnounceLeader is applied: resume everything the previous owner left running."""
        self.leading = True
        log.info("partition %d: leading with epoch %d", self.partition, self.epoch)
        self.host.start_all()
        self.wheel.wake()
        asyncio.get_running_loop().create_task(self.outbox.flush())
        if self.machine.egress.pending:
            self._wake_egress()
        if self.deps.dlq is not None:
            asyncio.get_running_loop().create_task(self.deps.dlq.flush(self.keys))

    def _respond(self, e: E.Respond) -> None:
        self.answers.respond(e.sink, e.invocation_id, e.outcome, e.status)

    def _answer(self, e: E.Answer) -> None:
        self.answers.completed(e.invocation_id, e.sinks, e.outcome)

    def _produce(self, e: E.Produce) -> None:
        self.outbox.send(e.field, e.partition, e.key, e.record)

    def _queue_egress(self, e: E.QueueEgress) -> None:
        self.machine.egress.add(e.field, e.item)
        self._wake_egress()

    def _egress_applied(self, e: E.EgressApplied) -> None:
        if self.egress_sender is not None:
            self.egress_sender.applied(e.token)

    def _dead_letter(self, e: E.DeadLetter) -> None:
        if self.leading and self.deps.dlq is not None:
            self.deps.dlq.send(self.keys, e.field, e.blob)

    # ------------------------------------------------------------------ egress

    def _wake_egress(self) -> None:
        """Start (first use) or wake the sender; only the leader sends."""
        if not self.leading or self._stopped or self.deps.egress is None:
            return
        sender = self._egress()
        sender.start()
        sender.wake()

    def _stop_egress(self) -> None:
        if self.egress_sender is not None:
            asyncio.get_running_loop().create_task(self.egress_sender.stop())

    def _egress(self) -> EgressSending:
        if self.egress_sender is None:
            assert self.deps.egress is not None
            self.egress_sender = self.deps.egress(
                self.partition,
                self.machine.egress,
                self.append,
                self._mark_egress_used,
                self._owns_partition,
            )
        return self.egress_sender

    async def _owns_partition(self) -> bool:
        """Leading, and Redis still holds this owner's epoch (no take-over since)."""
        if not self.leading or self._stopped:
            return False
        epoch, _ = await self.deps.store.position(self.partition)
        return epoch == self.epoch

    async def _mark_egress_used(self) -> None:
        """Durable before the first transaction: tells a future owner to fence at take-over."""
        if not self._egress_used:
            # Outside the fenced apply: safe for a stale owner too (see housekeeping).
            await mark_egress_used(self.deps.redis, self.keys)
            self._egress_used = True

    # ------------------------------------------------------------------ timers

    def _fire_timer(self, member: bytes) -> asyncio.Future[int]:
        return self.deps.producer.append(
            self.partition, b"", records.TimerFired(self.epoch, member)
        )

    # ------------------------------------------------------------------ for attempts

    async def load_journal(self, inv_id: str) -> list[bytes]:
        return await self.deps.store.lrange_all(self.keys.journal(inv_id))

    def append(self, rec: records.Record) -> asyncio.Future[int]:
        """Produce a record of this partition's own invocations (journal, suspend, failure)."""
        return self.deps.producer.append(self.partition, b"", rec)
