"""The egress sender of one partition: outbox records -> user topics, in Kafka transactions.

Journal appends use an idempotent producer (ADR 0002), so an emit becomes
durable in ``rt.log`` first; the processor then records it in the partition's
egress outbox in the same atomic apply. This sender writes outbox records in
transactions, each also holding an ``EgressDone`` marker on the partition's
own ``rt.log`` partition; applying the marker removes the records from the
outbox. See ``docs/decisions/0005-egress-and-pipelines.md``.

The processor reaches it as ``runtime.partition.features.EgressSending``, built by
the factory the composition root passes in.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from runtime.log import records
from runtime.log.transactions import init_transactions
from runtime.metrics import EGRESS_RECORDS, labelled
from runtime.partition.egress_outbox import EgressItem, EgressOutbox

log = logging.getLogger("rt.egress")

MAX_BATCH = 1000
TXN_TIMEOUT_MS = 20_000
"""Also bounds how long a dead sender's open transaction can hold back read_committed
readers of its rt.log partition if no new sender aborts it sooner."""
_FENCED = frozenset(
    {
        KafkaError._FENCED,
        KafkaError.PRODUCER_FENCED,
        KafkaError.INVALID_PRODUCER_EPOCH,
        KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
    }
)
# A record Kafka refuses for good: retrying it would block the partition's egress forever.
_PERMANENT = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.INVALID_RECORD,
        KafkaError.RECORD_LIST_TOO_LARGE,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.TOPIC_EXCEPTION,
        KafkaError._INVALID_ARG,
        KafkaError._UNKNOWN_TOPIC,
    }
)
_MAX_FAILURES = 3


def transactional_id(prefix: str, partition: int) -> str:
    """One transactional.id per partition: a new owner's init fences the old one. NEVER CHANGE."""
    return f"{prefix}.egress.{partition}"


class Fenced(RuntimeError):
    """Another owner's producer took over this partition's transactional.id."""


class _Aborted(RuntimeError):
    def __init__(self, bad: dict[str, str]) -> None:
        super().__init__("egress transaction aborted")
        self.bad = bad


class EgressSender:
    """Drives one partition's egress while its processor leads.

    Protocol (run once per producer instance, i.e. again after a fatal producer error,
    but only while ``owns()`` says this node still owns the partition: a re-init after
    losing it would fence the new owner's producer):

    Step 1. ``init_transactions`` with the partition's transactional.id: the broker
            aborts a previous owner's open transaction and fences it, so from now on
            no other process can commit egress records of this partition.
    Step 2. Append an ``EgressDone`` barrier and wait until the processor applies it:
            every transaction committed before Step 1 has its marker earlier in the
            log, so those records have left the outbox (catch-up before re-sending).
    Step 3. Loop: take unsent outbox records in log order (up to ``MAX_BATCH``); in
            one transaction produce them and the ``EgressDone`` marker naming them
            (on the partition's rt.log partition), commit. Records become visible
            to read_committed consumers only at commit, and the outbox only held
            them once their journal entry was durable and applied (invariant 4).
            While the transaction is open the rt.log partition's last stable offset
            waits at the marker; flushing the records before producing the marker
            shortens that but costs a round trip, and measured slower (ADR 0005).
    """

    def __init__(
        self,
        partition: int,
        kafka_config: dict[str, Any],
        prefix: str,
        log_topic: str,
        outbox: EgressOutbox,
        append: Callable[[records.Record], asyncio.Future[int]],
        mark_used: Callable[[], Awaitable[None]],
        owns: Callable[[], Awaitable[bool]],
    ) -> None:
        self.partition = partition
        self._owns = owns
        self.outbox = outbox
        self._config = {
            **kafka_config,
            "transactional.id": transactional_id(prefix, partition),
            "client.id": f"rt-egress-{partition}",
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 2,
            "transaction.timeout.ms": TXN_TIMEOUT_MS,
            "message.timeout.ms": TXN_TIMEOUT_MS // 2,
            "log_level": 2,
        }
        self._log_topic = log_topic
        self._append = append
        self._mark_used = mark_used
        self._producer: Producer | None = None
        self._exec = concurrent.futures.ThreadPoolExecutor(1, f"rt-egress-{partition}")
        self._wakeup = asyncio.Event()
        self._barrier: tuple[str, asyncio.Future[None]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._failures: dict[str, int] = {}
        self.fenced = False
        self.transactions = 0

    async def init(self) -> None:
        """Step 1 alone, at take-over: abort a dead owner's open transaction right away.

        Until it is aborted, the last stable offset of the rt.log partition stays
        behind its marker and read_committed consumption of the partition stalls.
        """
        await self._mark_used()
        await asyncio.get_running_loop().run_in_executor(self._exec, self._init)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"rt-egress-{self.partition}"
            )

    def wake(self) -> None:
        self._wakeup.set()

    def applied(self, token: str) -> None:
        """The processor applied an ``EgressDone`` carrying ``token``."""
        self._wakeup.set()
        if self._barrier is not None and self._barrier[0] == token:
            fut = self._barrier[1]
            if not fut.done():
                fut.set_result(None)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        # An open transaction is aborted by the next owner's init_transactions.
        self._exec.shutdown(wait=False, cancel_futures=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = 0.1
        while True:
            try:
                if self._producer is None:
                    if not await self._owns():
                        self.fenced = True
                        log.info(
                            "partition %d: not the owner any more; egress stops", self.partition
                        )
                        return
                    await self.init()  # Step 1.
                await self._wait_barrier()  # Step 2.
                backoff = 0.1
                await self._send_loop(loop)  # Step 3.
            except asyncio.CancelledError:
                raise
            except Fenced as e:
                # A stale owner re-initialised the transactional.id after this node took
                # the partition over; if this node still owns it, it takes the id back
                # (fencing the stale one, which then stops at its own ownership check).
                log.warning("partition %d: egress fenced: %s", self.partition, e)
                self._producer = None
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            except Exception:
                log.exception("partition %d: egress producer failed; recreating", self.partition)
                self._producer = None
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    def _init(self) -> None:
        producer = Producer(self._config)
        try:
            init_transactions(producer, TXN_TIMEOUT_MS / 1000)
        except KafkaException as e:
            _raise_fenced(e)
            raise
        self._producer = producer

    async def _wait_barrier(self) -> None:
        token = uuid.uuid4().hex
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._barrier = (token, fut)
        await self._append(records.EgressDone([], token))
        await fut
        self._barrier = None

    async def _send_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            self._wakeup.clear()
            batch = self.outbox.unsent(MAX_BATCH)
            if not batch:
                await self._wakeup.wait()
                continue
            for f, _ in batch:
                self.outbox.sent.add(f)
            try:
                await loop.run_in_executor(self._exec, self._transaction, batch)
                self.transactions += 1
                self._count(batch)
            except _Aborted as e:
                for f, _ in batch:
                    self.outbox.sent.discard(f)
                self._note_failures(e.bad)
                await asyncio.sleep(0.2)
            except BaseException:
                # Unknown outcome: a new producer (Steps 1-2) settles it before any resend.
                for f, _ in batch:
                    self.outbox.sent.discard(f)
                raise

    def _count(self, committed: list[tuple[str, EgressItem]]) -> None:
        for f, item in committed:
            if not self._dropped(f):
                labelled(EGRESS_RECORDS, item.topic).inc()

    def _note_failures(self, bad: dict[str, str]) -> None:
        for f, why in bad.items():
            self._failures[f] = self._failures.get(f, 0) + 1
            log.warning("partition %d: egress record %s refused: %s", self.partition, f, why)

    def _dropped(self, field: str) -> bool:
        return self._failures.get(field, 0) >= _MAX_FAILURES

    def _transaction(self, batch: list[tuple[str, EgressItem]]) -> None:
        p = self._producer
        assert p is not None
        bad: dict[str, str] = {}

        def on_delivery(field: str) -> Callable[[KafkaError | None, Message], None]:
            def done(err: KafkaError | None, _msg: Message) -> None:
                if err is not None and err.code() in _PERMANENT:
                    bad[field] = err.str()

            return done

        fields = []
        try:
            p.begin_transaction()
            for f, item in batch:
                fields.append(f)
                if self._dropped(f):
                    log.error(
                        "partition %d: dropping egress record %s of %s to %r after %d refusals",
                        self.partition, f, item.invocation_id, item.topic, _MAX_FAILURES,
                    )  # fmt: skip
                    continue
                try:
                    self._produce(p, item, on_delivery(f))
                except KafkaException as e:  # refused locally (size, invalid topic...)
                    if e.args[0].code() not in _PERMANENT:
                        raise
                    bad[f] = e.args[0].str()
            if bad:
                p.abort_transaction(TXN_TIMEOUT_MS / 1000)
                raise _Aborted(bad)
            marker = records.encode(records.EgressDone(fields))
            p.produce(self._log_topic, value=marker, key=b"", partition=self.partition)
            self._commit(p)
        except KafkaException as e:
            _raise_fenced(e)
            err = e.args[0]
            if err.txn_requires_abort():
                p.abort_transaction(TXN_TIMEOUT_MS / 1000)
                raise _Aborted(bad) from None
            raise

    def _produce(self, p: Producer, item: EgressItem, done: Any) -> None:
        while True:
            try:
                p.produce(
                    item.topic,
                    value=item.value,
                    key=item.key,
                    headers=list(item.headers.items()) or None,
                    on_delivery=done,
                )
                return
            except BufferError:
                p.poll(0.01)

    def _commit(self, p: Producer) -> None:
        while True:
            try:
                p.commit_transaction(TXN_TIMEOUT_MS / 1000)
                return
            except KafkaException as e:
                if e.args[0].retriable():
                    continue
                raise


def _raise_fenced(e: KafkaException) -> None:
    err = e.args[0]
    if isinstance(err, KafkaError) and err.code() in _FENCED:
        raise Fenced(err.str()) from None
