"""The local stack itself: real Kafka (KRaft) and real Redis behave as rt needs."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
import redis
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from runtime.devstack import process
from runtime.devstack.redis import LocalRedis
from runtime.log.topics import TopicNames, ensure_topics
from sdk._ids import keyed_routing_key, partition_for_hash, routing_hash
from tests.conftest import Infra


def _topic(infra: Infra, name: str, partitions: int) -> str:
    admin = AdminClient(infra.kafka_config())
    for fut in admin.create_topics([NewTopic(name, num_partitions=partitions)]).values():
        fut.result()
    return name


def _consume_all(infra: Infra, topic: str, n: int, **conf: str) -> list[tuple[bytes, bytes, int]]:
    consumer = Consumer(
        infra.kafka_config(
            **{"group.id": f"g-{uuid.uuid4().hex}", "auto.offset.reset": "earliest", **conf}
        )
    )
    consumer.subscribe([topic])
    got: list[tuple[bytes, bytes, int]] = []
    try:
        for _ in range(200):
            for msg in consumer.consume(num_messages=1000, timeout=0.2):
                if msg.error():
                    assert msg.error().code() == KafkaError._PARTITION_EOF
                    continue
                got.append((msg.key(), msg.value(), msg.partition()))
            if len(got) >= n:
                break
    finally:
        consumer.close()
    return got


def test_keyed_records_land_on_rt_routing_partition(infra: Infra, prefix: str) -> None:
    """Kafka's Java-compatible murmur2 partitioner agrees with rt's own routing."""
    topic = _topic(infra, f"{prefix}.keys", 8)
    producer = Producer(infra.kafka_config(partitioner="murmur2_random"))
    keys = [keyed_routing_key("Counter", f"k{i}") for i in range(200)]
    for k in keys:
        producer.produce(topic, key=k, value=b"v")
    assert producer.flush(10) == 0
    got = _consume_all(infra, topic, len(keys))
    assert len(got) == len(keys)
    for key, _value, part in got:
        assert part == partition_for_hash(routing_hash(key), 8), key


def test_transaction_abort_is_hidden_from_read_committed(infra: Infra, prefix: str) -> None:
    topic = _topic(infra, f"{prefix}.txn", 1)
    producer = Producer(infra.kafka_config(**{"transactional.id": f"{prefix}-tx"}))
    producer.init_transactions(10)
    producer.begin_transaction()
    producer.produce(topic, key=b"a", value=b"aborted")
    producer.flush(10)
    producer.abort_transaction(10)
    producer.begin_transaction()
    producer.produce(topic, key=b"c", value=b"committed")
    producer.commit_transaction(10)

    committed = _consume_all(infra, topic, 1, **{"isolation.level": "read_committed"})
    assert [v for _, v, _ in committed] == [b"committed"]
    uncommitted = _consume_all(infra, topic, 2, **{"isolation.level": "read_uncommitted"})
    assert sorted(v for _, v, _ in uncommitted) == [b"aborted", b"committed"]


def test_zombie_transactional_producer_is_fenced(infra: Infra, prefix: str) -> None:
    """Invariant 2, Kafka half: a new producer with the same transactional.id fences the old."""
    topic = _topic(infra, f"{prefix}.fence", 1)
    old = Producer(infra.kafka_config(**{"transactional.id": f"{prefix}-p0"}))
    old.init_transactions(10)
    old.begin_transaction()
    old.produce(topic, value=b"zombie")
    old.flush(10)
    new = Producer(infra.kafka_config(**{"transactional.id": f"{prefix}-p0"}))
    new.init_transactions(10)  # bumps the epoch, aborting the old transaction
    fenced = False
    try:
        old.commit_transaction(10)
    except Exception as e:  # noqa: BLE001 - KafkaException with a fatal/fenced error
        fenced = True
        assert "fenc" in str(e).lower() or "epoch" in str(e).lower(), e
    assert fenced
    new.begin_transaction()
    new.produce(topic, value=b"owner")
    new.commit_transaction(10)
    got = _consume_all(infra, topic, 1, **{"isolation.level": "read_committed"})
    assert [v for _, v, _ in got] == [b"owner"]


def test_rt_topics_created_with_partitions_and_prefix(infra: Infra, prefix: str) -> None:
    names = TopicNames(prefix)
    ensure_topics(infra.kafka_config(), names, 6)
    ensure_topics(infra.kafka_config(), names, 6)  # idempotent
    md = AdminClient(infra.kafka_config()).list_topics(timeout=10)
    assert len(md.topics[names.log].partitions) == 6
    assert len(md.topics[names.registry].partitions) == 1
    try:
        ensure_topics(infra.kafka_config(), names, 3)
    except RuntimeError as e:
        assert "fixed when the log is created" in str(e)
    else:
        raise AssertionError("a partition-count mismatch must be refused")
    consumer = Consumer(infra.kafka_config(**{"group.id": "x"}))
    for _ in range(50):  # a new partition's leader can take a moment to be elected
        try:
            low, high = consumer.get_watermark_offsets(TopicPartition(names.log, 0), timeout=10)
            break
        except KafkaException:
            time.sleep(0.1)
    consumer.close()
    assert (low, high) == (0, 0)


def test_redis_runs_with_aof(infra: Infra, redis_client: redis.Redis) -> None:
    if infra.redis_url and "RT_REDIS_URL" in __import__("os").environ:
        return  # an externally managed Redis: its persistence is the operator's choice
    assert redis_client.config_get("appendonly") == {"appendonly": "yes"}
    assert redis_client.config_get("appendfsync") == {"appendfsync": "everysec"}
    assert redis_client.config_get("bind")["bind"] == "127.0.0.1"


def test_local_redis_whose_picked_port_is_taken_starts_on_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The port race is real: the first port picked is already served by another Redis.
    Ours must not mistake that one for itself, and must come up on a fresh port."""
    other = LocalRedis(tmp_path / "other")
    other.start()
    try:
        picks = iter([other.port])
        real_free_port = process.free_port
        monkeypatch.setattr(process, "free_port", lambda: next(picks, None) or real_free_port())
        ours = LocalRedis(tmp_path / "ours")
        ours.start()
        try:
            assert ours.port != other.port
            info = redis.Redis.from_url(ours.url).info("server")
            assert ours.proc is not None and info["process_id"] == ours.proc.pid
        finally:
            ours.stop()
    finally:
        other.stop()
