"""A partition owner's transactional producer of batch records (batched execution, ADR 0020).

One per owned partition, with the transactional.id ``<prefix>.proc.<partition>``.
:meth:`BatchProducer.init` runs at take-over, before the owner appends its
``AnnounceLeader``: the broker aborts a previous owner's open transaction and
fences that owner's producer, so a zombie's batch can no longer commit (and its
record, were it in the log, carries an older epoch and is dropped by the machine).

Records given to :meth:`BatchProducer.commit` are produced to the owner's rt.log
partition in one Kafka transaction per round: the records queued while the previous
transaction was committing go together. Order is kept. An aborted transaction is
retried (nothing of it was visible); a fatal producer error is never retried with a
new producer — initialising the transactional.id again would fence the partition's
new owner if this one is deposed —: the owner stops, and the next owner settles the
outcome (a record committed and retried would be applied once: its second copy finds
its invocations done). Owns its producer; may not touch anything but rt.log.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import time
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from runtime.log import records
from runtime.log.transactions import init_transactions

log = logging.getLogger("rt.batch")

TXN_TIMEOUT_MS = 20_000
"""Also bounds how long a dead owner's open transaction can hold back read_committed
readers of its partition when no new owner aborts it sooner."""
_FENCED = frozenset(
    {
        KafkaError._FENCED,
        KafkaError.PRODUCER_FENCED,
        KafkaError.INVALID_PRODUCER_EPOCH,
        KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
    }
)
_RETRIES = 5


class BatchFenced(RuntimeError):
    """Another owner took this partition's transactional.id over (this owner is deposed),
    or the producer failed for good: the owner must stop."""


class _Aborted(Exception):
    def __init__(self, error: KafkaException) -> None:
        super().__init__(str(error))
        self.error = error


def transactional_id(prefix: str, partition: int) -> str:
    """The batch producer's transactional.id of a partition. NEVER CHANGE (fencing)."""
    return f"{prefix}.proc.{partition}"


class BatchProducer:
    """Commits one partition owner's batch records in Kafka transactions.

    Args:
        kafka_config: librdkafka client config (bootstrap, security).
        prefix: rt's topic prefix.
        log_topic: The rt.log topic.
        partition: The owned partition.
    """

    def __init__(
        self, kafka_config: dict[str, Any], prefix: str, log_topic: str, partition: int
    ) -> None:
        self.partition = partition
        self._topic = log_topic
        self._config = {
            **kafka_config,
            "transactional.id": transactional_id(prefix, partition),
            "client.id": f"rt-batch-{partition}",
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 0,
            "socket.nagle.disable": True,
            "transaction.timeout.ms": TXN_TIMEOUT_MS,
            "message.timeout.ms": TXN_TIMEOUT_MS // 2,
            "log_level": 2,
        }
        self._producer: Producer | None = None
        self._exec = concurrent.futures.ThreadPoolExecutor(1, f"rt-batch-{partition}")
        self._queue: list[tuple[bytes, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None
        self._wakeup = asyncio.Event()
        self.fenced = False
        self.transactions = 0

    async def init(self) -> None:
        """Take the transactional.id over: fences (and aborts) a previous owner's producer."""
        await asyncio.get_running_loop().run_in_executor(self._exec, self._init)

    def commit(self, record: records.BatchCommit) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        if self.fenced:
            fut.set_exception(BatchFenced(f"partition {self.partition}: fenced"))
            return fut
        self._queue.append((records.encode(record), fut))
        if self._task is None:
            self._task = loop.create_task(self._run(), name=f"rt-batch-{self.partition}")
        self._wakeup.set()
        return fut

    async def close(self) -> None:
        """Stop; an open transaction is aborted by the next owner's ``init``."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        for _, fut in self._queue:
            if not fut.done():
                fut.cancel()
        self._queue = []
        self._exec.shutdown(wait=False, cancel_futures=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if not self._queue:
                continue
            queued, self._queue = self._queue, []
            try:
                await self._commit_with_retries(loop, [value for value, _ in queued])
            except BaseException as e:  # noqa: BLE001 - handed to every waiter
                for _, fut in queued:
                    if not fut.done():
                        fut.set_exception(e)
                if isinstance(e, asyncio.CancelledError):
                    raise
                continue
            for _, fut in queued:
                if not fut.done():
                    fut.set_result(None)

    async def _commit_with_retries(
        self, loop: asyncio.AbstractEventLoop, values: list[bytes]
    ) -> None:
        for attempt in range(_RETRIES):
            try:
                await loop.run_in_executor(self._exec, self._transaction, values)
                self.transactions += 1
                return
            except BatchFenced:
                self.fenced = True
                raise
            except _Aborted as e:  # nothing of it is visible: the same producer retries
                if attempt == _RETRIES - 1:
                    raise e.error from None
                log.warning("partition %d: batch transaction aborted (%s); retrying",
                            self.partition, e.error)  # fmt: skip
                await asyncio.sleep(0.1 * 2**attempt)

    def _init(self) -> None:
        if self._producer is not None:
            return
        producer = Producer(self._config)
        try:
            init_transactions(producer, TXN_TIMEOUT_MS / 1000)
        except KafkaException as e:
            _raise_fenced(e)
            raise
        self._producer = producer

    def _transaction(self, values: list[bytes]) -> None:
        """One transaction. Never initialises a producer again after :meth:`init`: a
        deposed owner doing so would fence the partition's new owner. A fatal error
        (other than fencing) raises: the owner stops, a new owner settles the outcome."""
        p = self._producer
        if p is None:
            raise BatchFenced(f"partition {self.partition}: the batch producer failed")
        try:
            p.begin_transaction()
            for value in values:
                self._produce(p, value)
            deadline = time.monotonic() + TXN_TIMEOUT_MS / 1000
            while True:
                try:
                    p.commit_transaction(TXN_TIMEOUT_MS / 1000)
                    return
                except KafkaException as e:
                    if not e.args[0].retriable() or time.monotonic() > deadline:
                        raise
        except KafkaException as e:
            _raise_fenced(e)
            err = e.args[0]
            if err.txn_requires_abort():
                p.abort_transaction(TXN_TIMEOUT_MS / 1000)
                raise _Aborted(e) from None
            self._producer = None
            raise

    def _produce(self, p: Producer, value: bytes) -> None:
        while True:
            try:
                p.produce(self._topic, value=value, key=b"", partition=self.partition)
                return
            except BufferError:
                p.poll(0.01)


def _raise_fenced(e: KafkaException) -> None:
    err = e.args[0]
    if isinstance(err, KafkaError) and err.code() in _FENCED:
        raise BatchFenced(err.str()) from None
