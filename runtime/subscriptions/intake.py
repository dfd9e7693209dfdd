"""Exactly-once intake: one subscription's source topic → Invoke records on ``<prefix>.log``.

One consumer per (subscription, node) in the consumer group
``<prefix>.sub.<subscription id>``, so nodes split the source partitions. Each
assigned source partition has its own transactional producer with the stable
``transactional.id`` ``<prefix>.sub.<subscription id>.<partition>``: whoever
takes the partition next (after a rebalance or a kill -9) calls
``init_transactions`` with the same id, which aborts the previous owner's open
transaction and fences it (and ``send_offsets_to_transaction`` with the
consumer's group metadata fences a stale group generation, KIP-447).

The commit protocol, per round and source partition (``_take`` while consuming,
then ``_commit`` for all the round's partitions in parallel):

Step 1. ``begin_transaction`` (at the partition's first record of the round).
Step 2. Append the records, in offset order, as entries of
        :class:`records.SubscriptionBatch` records (one per rt.log partition and
        up to ``BATCH_ENTRIES`` records or ``BATCH_BYTES``): the processor turns
        each entry into one Invoke with an id derived from (subscription, topic,
        partition, offset) — a re-appended record is deduplicated by the partition
        processor; records of one key keep their order because one partition's
        records are appended in order, one transaction after the other.
        Undecodable records (and records too large for rt.log) go to the DLQ topic
        in the same transaction (or are skipped with ``dlq=skip``).
Step 3. ``send_offsets_to_transaction(last offset + 1, group metadata)``: the
        source offset commits if and only if the Invokes do.
Step 4. ``commit_transaction``. On any failure: abort (if possible) and seek the
        partition back to the round's first offset, so nothing is lost and a
        retried record gets the same invocation id.

A round streams: records are produced as they are consumed, so librdkafka
ships them while the next batch is decoded, and the commit waits only for the
tail. Rounds end at ``MAX_ROUND`` records, after ``ROUND_S`` or as soon as the
consumer has nothing more (caught up), because an open transaction holds back
the last stable offset for read_committed readers of the log (the partition
processors); a commit costs a few broker round trips whatever its size, so
large rounds under backlog are what makes intake fast. A partition revoked
mid-round has its transaction aborted (its next owner re-reads from the
committed offset).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from connectors.serde import RecordDecodeError, RecordDecoder
from runtime.log.topics import TopicNames
from runtime.log.transactions import init_transactions
from runtime.subscriptions.dlq import decode_failure_headers
from runtime.subscriptions.fastpath import BatchEncoder, Entry, Router, entry
from runtime.subscriptions.mapping import KeyError_, SinkTarget, SourceRecord
from runtime.subscriptions.model import Subscription

log = logging.getLogger("rt.subscriptions")

MAX_ROUND = 200_000
"""Records per round (all partitions); bounds a transaction's size."""
ROUND_S = 0.5
"""Longest a round consumes before committing; bounds how long a transaction holds back
the last stable offset of rt.log for the partition processors."""
CONSUME_BATCH = 5_000
BATCH_ENTRIES = 500
"""Records per SubscriptionBatch: bounds what one processor apply takes from a record."""
BATCH_BYTES = 256 * 1024
MAX_ENTRY_BYTES = 900 * 1024
"""A larger record cannot be appended to rt.log (Kafka's 1 MB message limit): dead letter."""
TXN_TIMEOUT_S = 30.0
MAX_POLL_INTERVAL_MS = 300_000
RESTART_PAUSE_S = 2.0


def transactional_id(prefix: str, subscription_id: str, partition: int) -> str:
    """Stable per (subscription, source partition): NEVER CHANGE (fences zombies on restart)."""
    return f"{prefix}.sub.{subscription_id}.{partition}"


def group_id(prefix: str, subscription_id: str) -> str:
    """The subscription's consumer group: NEVER CHANGE (holds the committed source offsets)."""
    return f"{prefix}.sub.{subscription_id}"


def source_record(m: Message) -> SourceRecord:
    ts_type, ts = m.timestamp()
    key = m.key()
    value = m.value()
    raw_headers: Any = m.headers() or []
    pairs = raw_headers.items() if isinstance(raw_headers, dict) else raw_headers
    return SourceRecord(
        topic=m.topic() or "",
        partition=m.partition() or 0,
        offset=m.offset() or 0,
        key=key if isinstance(key, bytes) or key is None else str(key).encode(),
        value=value if isinstance(value, bytes) or value is None else str(value).encode(),
        timestamp_ms=ts if ts_type != 0 and ts >= 0 else None,
        headers=tuple(
            (str(k), v if isinstance(v, bytes) or v is None else str(v).encode()) for k, v in pairs
        ),
    )


@dataclass
class _Txn:
    """One source partition's transaction in the current round."""

    partition: int
    prod: Producer
    first: int
    """Offset of the round's first record: where a failed round restarts."""
    now_ms: int
    """The round's clock reading: the Invokes' ``created_at_ms``."""
    last: int = -1
    count: int = 0
    dead: int = 0
    error: KafkaException | None = None
    revoked: bool = False
    pending: dict[int, list[Entry]] = field(default_factory=dict)
    """Entries not yet produced, per rt.log partition."""
    pending_bytes: dict[int, int] = field(default_factory=dict)


class IntakeRunner:
    """Runs one subscription's intake on this node (a consumer thread + per-partition producers)."""

    def __init__(
        self,
        sub: Subscription,
        sink: SinkTarget,
        decoder: RecordDecoder,
        kafka_config: dict[str, Any],
        topics: TopicNames,
        partitions: int,
        node_id: str,
        max_round: int = MAX_ROUND,
    ) -> None:
        self.sub = sub
        self._max_round = max_round
        self._sink = sink
        self._decoder = decoder
        self._kafka_config = kafka_config
        self._topics = topics
        self._partitions = partitions
        self._node_id = node_id
        self._topic = sub.topic
        self._dlq = sub.dlq
        self._router = Router(sub.id, sub.topic, sink, partitions)
        self._batches = BatchEncoder(sub.id, sub.topic, sink, sub.dlq)
        self._log = topics.log
        self._producers: dict[int, Producer] = {}
        self._open: dict[int, _Txn] = {}
        """The round's open transactions (consumer thread and its rebalance callbacks only)."""
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix=f"rt-intake-{sub.id}")
        self._thread = threading.Thread(target=self._run, name=f"rt-intake-{sub.id}", daemon=True)
        self._stats_lock = threading.Lock()
        self.appended = 0
        """Records committed by this runner (Invokes + dead letters + skipped)."""
        self.dead = 0
        self.fatal: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        """Finish the round in flight (its offsets commit), leave the group, close producers."""
        self._stop.set()
        self._thread.join(timeout)
        self._pool.shutdown(wait=True)

    # ------------------------------------------------------------------ consumer thread

    def _consumer(self) -> Consumer:
        return Consumer(
            {
                **self._kafka_config,
                "group.id": group_id(self._topics.prefix, self.sub.id),
                "client.id": f"rt-sub-{self._node_id}",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "isolation.level": "read_committed",
                "auto.offset.reset": self.sub.offset_reset,
                "partition.assignment.strategy": "range",
                "session.timeout.ms": 10_000,
                "heartbeat.interval.ms": 2_000,
                "max.poll.interval.ms": MAX_POLL_INTERVAL_MS,
                "fetch.wait.max.ms": 100,
                **self.sub.consumer_options,  # validated: never one rt controls
                "log_level": 2,
            }
        )

    def _run(self) -> None:
        """Consumer sessions until stopped; a failed session (broker down, a failing
        rebalance callback) is closed and a new one joins the group after a pause."""
        while not self._stop.is_set():
            try:
                self._session()
            except Exception as e:  # noqa: BLE001 - logged, surfaced through .fatal, retried
                self.fatal = e
                log.exception("subscription %s: intake session failed, restarting", self.sub.id)
                self._stop.wait(RESTART_PAUSE_S)

    def _session(self) -> None:
        consumer = self._consumer()
        try:
            consumer.subscribe(
                [self._topic],
                on_assign=self._assigned,
                on_revoke=self._revoked,
                on_lost=self._revoked,
            )
            while not self._stop.is_set():
                first = consumer.poll(0.2)
                if first is not None:
                    self._round(consumer, first)
        finally:
            try:
                consumer.close()  # revokes (closing producers) and leaves the group
            except Exception:  # noqa: BLE001
                log.exception("subscription %s: closing the consumer failed", self.sub.id)
            for p in list(self._producers):
                self._close_producer(p)

    def _round(self, consumer: Consumer, first: Message) -> None:
        """Steps 1-2 while consuming (up to ``max_round`` records or ``ROUND_S``), then
        steps 3-4 for every partition of the round at once."""
        txns: dict[int, _Txn] = {}
        self._open = txns
        deadline = time.monotonic() + ROUND_S
        now = int(time.time() * 1000)
        batch = [first]
        n = 0
        while True:
            self._take(batch, txns, now)
            n += len(batch)
            if n >= self._max_round or self._stop.is_set() or time.monotonic() >= deadline:
                break
            batch = consumer.consume(
                num_messages=min(CONSUME_BATCH, self._max_round - n), timeout=0.05
            )
            if not batch:
                break  # caught up: commit now rather than hold the transaction open
        self._open = {}
        live = [t for t in txns.values() if not t.revoked]
        if not live:
            return
        meta = consumer.consumer_group_metadata()
        for t, ok in zip(live, self._pool.map(lambda t: self._commit(t, meta), live), strict=True):
            if not ok:
                try:
                    consumer.seek(TopicPartition(self._topic, t.partition, t.first))
                except KafkaException as e:
                    log.warning(
                        "subscription %s: seek of partition %d failed: %s",
                        self.sub.id, t.partition, e,
                    )  # fmt: skip

    def _take(self, msgs: list[Message], txns: dict[int, _Txn], now: int) -> None:
        """Steps 1-2 for consumed messages: the per-record hot loop, kept flat."""
        decode = self._decoder.decode
        topic = self._topic
        route = self._router.partition
        cached = self._router.cached
        for m in msgs:
            if m.error() is not None:
                self._consumer_error(m)
                continue
            p = m.partition() or 0
            t = txns.get(p)
            if t is None:
                t = self._begin(txns, p, m, now)
                if t is None:
                    continue  # not (or no longer) ours
            if t.error is not None or t.revoked:
                continue  # the partition is re-read from t.first (failed) or by its next owner
            try:
                try:
                    e, size = entry(m, decode(m.value(), topic))
                    part = cached.get(e[2], -1) if cached is not None else -1
                    if part < 0:
                        part = route(p, e[0], e[2])
                    if size > MAX_ENTRY_BYTES:
                        raise RecordDecodeError(
                            f"record too large for rt.log: about {size} bytes, "
                            f"at most {MAX_ENTRY_BYTES}"
                        )
                except (RecordDecodeError, KeyError_) as err:
                    self._dead_letter(t, m, str(err))
                else:
                    batch = t.pending.get(part)
                    if batch is None:
                        batch = t.pending[part] = []
                        t.pending_bytes[part] = size
                    elif t.pending_bytes[part] + size > BATCH_BYTES:
                        self._flush(t, part)
                        batch = t.pending[part] = []
                        t.pending_bytes[part] = size
                    else:
                        t.pending_bytes[part] += size
                    batch.append(e)
                    if len(batch) >= BATCH_ENTRIES:
                        self._flush(t, part)
            except KafkaException as err:
                t.error = err
                continue
            t.last = m.offset() or 0
            t.count += 1

    def _consumer_error(self, m: Message) -> None:
        err = m.error()
        if err is not None and err.code() != KafkaError._PARTITION_EOF:
            log.warning("subscription %s: consumer error: %s", self.sub.id, err)

    def _begin(self, txns: dict[int, _Txn], p: int, m: Message, now: int) -> _Txn | None:
        """Step 1: the partition's transaction of this round, begun at its first record."""
        prod = self._producers.get(p)
        if prod is None:
            return None
        t = txns[p] = _Txn(p, prod, m.offset() or 0, now)
        try:
            prod.begin_transaction()
        except KafkaException as e:
            t.error = e
        return t

    # ------------------------------------------------------------------ one transaction

    def _commit(self, t: _Txn, meta: Any) -> bool:
        """Steps 3-4 of the module docstring for one source partition's round."""
        try:
            if t.error is not None:
                raise t.error
            for part in list(t.pending):
                self._flush(t, part)
            offsets = [TopicPartition(self._topic, t.partition, t.last + 1)]
            t.prod.send_offsets_to_transaction(offsets, meta, TXN_TIMEOUT_S)  # Step 3.
            t.prod.commit_transaction(TXN_TIMEOUT_S)  # Step 4.
        except KafkaException as e:
            self._failed(t.partition, t.prod, e)
            return False
        with self._stats_lock:  # partitions commit on several pool threads
            self.appended += t.count
            self.dead += t.dead
        return True

    def _failed(self, p: int, prod: Producer, e: KafkaException) -> None:
        err = e.args[0] if e.args else None
        log.warning("subscription %s: transaction of partition %d failed: %s", self.sub.id, p, e)
        if isinstance(err, KafkaError) and err.txn_requires_abort():
            try:
                prod.abort_transaction(TXN_TIMEOUT_S)
                return
            except KafkaException:
                log.warning("subscription %s: abort failed", self.sub.id, exc_info=True)
        # Fatal (fenced, or in an unknown state): start over with a fresh producer, whose
        # init_transactions aborts whatever this one left open.
        self._close_producer(p)
        if not self._stop.is_set():
            try:
                self._producers[p] = self._new_producer(p)
            except KafkaException:
                log.exception("subscription %s: producer for %d failed", self.sub.id, p)

    def _flush(self, t: _Txn, part: int) -> None:
        """Produce a log partition's pending entries as one SubscriptionBatch."""
        entries = t.pending.pop(part, None)
        t.pending_bytes.pop(part, None)
        if not entries:
            return
        value = self._batches.encode(t.partition, t.now_ms, entries)
        _produce(t.prod, self._log, value, None, part, None)

    def _dead_letter(self, t: _Txn, m: Message, error: str) -> None:
        rec = source_record(m)
        t.dead += 1
        if self._dlq is None:
            log.warning(
                "subscription %s: skipping %s[%d]@%d: %s",
                self.sub.id, rec.topic, rec.partition, rec.offset, error,
            )  # fmt: skip
            return
        headers = decode_failure_headers(self.sub.id, rec, error)
        _produce(t.prod, self._dlq, rec.value, rec.key, None, headers)

    # ------------------------------------------------------------------ producers per partition

    def _new_producer(self, p: int) -> Producer:
        prod = Producer(
            {
                **self._kafka_config,
                "client.id": f"rt-sub-{self._node_id}-{p}",
                "transactional.id": transactional_id(self._topics.prefix, self.sub.id, p),
                "transaction.timeout.ms": 60_000,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 20,
                "delivery.report.only.error": True,
                "queue.buffering.max.messages": 200_000,
                "log_level": 2,
            }
        )
        init_transactions(prod, TXN_TIMEOUT_S)
        return prod

    def _close_producer(self, p: int) -> None:
        prod = self._producers.pop(p, None)
        if prod is not None:
            prod.flush(5)

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # init_transactions before the first fetch: it aborts a killed owner's open
        # transaction, so the committed offset read next is stable.
        for tp in partitions:  # revoked and re-assigned mid-round: a fresh transaction
            t = self._open.get(tp.partition)
            if t is not None and t.revoked:
                del self._open[tp.partition]
        new = [tp.partition for tp in partitions if tp.partition not in self._producers]
        for p, prod in zip(new, self._pool.map(self._new_producer, new), strict=True):
            self._producers[p] = prod
        log.info("subscription %s: assigned %s", self.sub.id, sorted(new))

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            t = self._open.get(tp.partition)
            if t is not None and not t.revoked:
                # Mid-round: nothing of it commits; the next owner re-reads from the
                # committed offset (and its init_transactions would abort it anyway).
                t.revoked = True
                if t.error is None:
                    try:
                        t.prod.abort_transaction(TXN_TIMEOUT_S)
                    except KafkaException:
                        log.warning("subscription %s: abort failed", self.sub.id, exc_info=True)
            self._close_producer(tp.partition)
        log.info(
            "subscription %s: revoked %s", self.sub.id, sorted(tp.partition for tp in partitions)
        )


def _produce(
    prod: Producer,
    topic: str,
    value: bytes | None,
    key: bytes | None,
    partition: int | None,
    headers: list[tuple[str, str | bytes | None]] | None,
) -> None:
    kwargs: dict[str, Any] = {"value": value, "key": key}
    if partition is not None:
        kwargs["partition"] = partition
    if headers is not None:
        kwargs["headers"] = headers
    while True:
        try:
            prod.produce(topic, **kwargs)
            return
        except BufferError:
            prod.poll(0.01)
