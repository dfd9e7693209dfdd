"""Kafka subscriptions end to end: exactly-once intake, order per key, DLQ, admin + CLI.

Real Kafka and Redis, real ``rt dev`` nodes (``RtNode``); the kill test uses kill -9.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import fastavro
import httpx
import redis
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from tests.conftest import Infra
from tests.e2e.conftest import APPS, RtNode

APP = APPS / "subs_app.py"
KEYS = 50
SMALL_ROUNDS = {"RT_INTAKE_ROUND_RECORDS": "500"}
"""Intake commits every 500 records, so a kill lands between commits (a whole 20k
topic would otherwise be one transaction)."""


def create_topic(infra: Infra, name: str, partitions: int) -> None:
    admin = AdminClient(infra.kafka_config())
    admin.create_topics([NewTopic(name, num_partitions=partitions)])[name].result(30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        md = admin.list_topics(name, timeout=10).topics.get(name)
        if md is not None and md.error is None and len(md.partitions) == partitions:
            return
        time.sleep(0.1)
    raise AssertionError(f"topic {name} not ready")


def fill_keyed(
    infra: Infra, topic: str, total: int, keys: int = KEYS, seqs: Counter[str] | None = None
) -> dict[str, int]:
    """``total`` JSON records ``{"seq": n}`` spread over ``keys`` keys; seq counts per key.

    Given ``seqs``, each key's sequence continues from it (and ``seqs`` is updated).
    """
    prod = Producer(infra.kafka_config(**{"linger.ms": 20, "enable.idempotence": True}))
    seqs = Counter() if seqs is None else seqs
    for i in range(total):
        key = f"k{i % keys}"
        seqs[key] += 1
        prod.produce(topic, key=key.encode(), value=json.dumps({"seq": seqs[key]}).encode())
        if i % 1000 == 0:
            prod.poll(0)
    assert prod.flush(60) == 0
    return dict(seqs)


def state_of(node: RtNode, service: str, key: str) -> dict[str, Any]:
    r = httpx.get(f"{node.admin_url}/services/{service}/state/{key}", timeout=10)
    r.raise_for_status()
    return {k: json.loads(v) for k, v in r.json()["state_utf8"].items()}


def wait_counts(node: RtNode, expected: dict[str, int], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    states: dict[str, Any] = {}
    while time.monotonic() < deadline:
        states = {k: state_of(node, "SeqCounter", k) for k in expected}
        if all(states[k].get("count") == n for k, n in expected.items()):
            return states
        if any(states[k].get("count", 0) > n for k, n in expected.items()):
            break
        time.sleep(1)
    return states


def subscribe(node: RtNode, topic: str, sink: str, **options: str) -> dict[str, Any]:
    body = {"source": f"kafka://default/{topic}", "sink": f"service://{sink}", "options": options}
    r = httpx.post(f"{node.admin_url}/subscriptions", json=body, timeout=30)
    assert r.status_code == 201, r.text
    return dict(r.json())


def read_all(infra: Infra, topic: str, expect: int, timeout: float = 60) -> list[Any]:
    c = Consumer(
        infra.kafka_config(
            **{"group.id": f"check-{time.time()}", "isolation.level": "read_committed",
               "auto.offset.reset": "earliest", "enable.auto.commit": False}
        )
    )  # fmt: skip
    c.subscribe([topic])
    out: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and len(out) < expect:
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                out.append(m)
        end = time.monotonic() + 3  # anything beyond the expected count shows up here
        while time.monotonic() < end:
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                out.append(m)
    finally:
        c.close()
    return out


def assert_exact(states: dict[str, Any], expected: dict[str, int]) -> None:
    for key, n in expected.items():
        st = states.get(key, {})
        assert st.get("count") == n, f"{key}: count {st.get('count')} != {n}"
        assert st.get("last") == n, f"{key}: last seq {st.get('last')} != {n}"
        assert st.get("errors", 0) == 0, f"{key}: {st.get('errors')} out-of-order records"


# ---------------------------------------------------------------------------------- tests


def test_20k_keyed_records_counted_exactly_in_order(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]
) -> None:
    topic = f"{prefix}.orders"
    create_topic(infra, topic, 8)
    expected = fill_keyed(infra, topic, 20_000)
    node = RtNode(infra, prefix, APP, tmp_path)
    nodes.append(node.start())
    # A librdkafka consumer property passes through to the source consumer.
    sub = subscribe(node, topic, "SeqCounter/add",
                    **{"auto.offset.reset": "earliest", "fetch.min.bytes": "1024"})  # fmt: skip
    assert sub["id"].startswith("sub_") and sub["options"]["fetch.min.bytes"] == "1024"
    states = wait_counts(node, expected, timeout=300)
    assert_exact(states, expected)


def test_kill9_during_intake_loses_and_duplicates_nothing(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode], redis_client: redis.Redis
) -> None:
    topic = f"{prefix}.orders"
    create_topic(infra, topic, 8)
    expected = fill_keyed(infra, topic, 20_000)
    node = RtNode(infra, prefix, APP, tmp_path, **SMALL_ROUNDS)
    nodes.append(node.start())
    sub = subscribe(node, topic, "SeqCounter/add", **{"auto.offset.reset": "earliest"})
    kill_mid_intake(infra, node, f"{prefix}.sub.{sub['id']}", topic, 20_000)
    partial = sum(state_of_redis(redis_client, prefix, k) for k in expected)
    assert partial < 20_000, "the kill came too late to test anything"
    node.start()  # same prefix: resumes from the registry and the committed offsets
    states = wait_counts(node, expected, timeout=400)
    assert_exact(states, expected)


def committed(infra: Infra, group: str, topic: str, partitions: int = 8) -> int:
    """Source records the subscription's intake has committed (sum of committed offsets).

    read_uncommitted: a read_committed client asks the broker for *stable* offsets and
    waits while a transactional offset commit is pending — after a kill -9 that is until
    the dead producer's transaction times out (60 s), longer than this helper waits.
    """
    c = Consumer(infra.kafka_config(**{"group.id": group, "isolation.level": "read_uncommitted"}))
    try:
        for attempt in range(5):  # the coordinator can be slow to answer on a loaded machine
            try:
                tps = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
                return sum(max(tp.offset, 0) for tp in tps)
            except KafkaException:
                if attempt == 4:
                    raise
        raise AssertionError("unreachable")
    finally:
        c.close()


def kill_mid_intake(infra: Infra, node: RtNode, group: str, topic: str, total: int) -> int:
    """kill -9 ``node`` once intake has committed some but not all records; return that count."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and committed(infra, group, topic) == 0:
        time.sleep(0.02)
    node.kill9()
    done = committed(infra, group, topic)
    assert 0 < done < total, f"the kill did not land mid-intake ({done} of {total} committed)"
    return done


def group_assignment(infra: Infra, group: str) -> list[set[int]]:
    """Source partitions per member of a subscription's consumer group."""
    admin = AdminClient(infra.kafka_config())
    desc = admin.describe_consumer_groups([group])[group].result(30)
    return [{tp.partition for tp in m.assignment.topic_partitions} for m in desc.members]


def test_two_nodes_split_source_partitions_and_survive_a_kill9(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]
) -> None:
    topic = f"{prefix}.orders"
    create_topic(infra, topic, 8)
    a = RtNode(infra, prefix, APP, tmp_path, **SMALL_ROUNDS)
    b = RtNode(infra, prefix, APP, tmp_path, **SMALL_ROUNDS)
    nodes.append(a.start())
    nodes.append(b.start())
    sub = subscribe(a, topic, "SeqCounter/add", **{"auto.offset.reset": "earliest"})
    group = f"{prefix}.sub.{sub['id']}"
    deadline = time.monotonic() + 90
    split: list[set[int]] = []
    while time.monotonic() < deadline:
        split = group_assignment(infra, group)
        if len(split) == 2 and all(split) and set().union(*split) == set(range(8)):
            break
        time.sleep(0.5)
    assert len(split) == 2 and all(split), f"source partitions not split: {split}"
    assert set().union(*split) == set(range(8)) and not split[0] & split[1]
    # Node b learned the subscription from the registry topic, not from its own admin API.
    assert httpx.get(f"{b.admin_url}/subscriptions/{sub['id']}").status_code == 200

    expected = fill_keyed(infra, topic, 20_000)
    # b takes over a's source partitions (and its rt.log partitions).
    kill_mid_intake(infra, a, group, topic, 20_000)
    states = wait_counts(b, expected, timeout=400)
    assert_exact(states, expected)


def state_of_redis(r: redis.Redis, prefix: str, key: str) -> int:
    for p in range(4):
        raw = r.hget(f"{prefix}:{{p{p}}}:state:SeqCounter/{key}", "count")
        if raw is not None:
            return int(raw)
    return 0


AVRO_SCHEMA = {
    "type": "record",
    "name": "Order",
    "fields": [{"name": "seq", "type": "int"}, {"name": "fail", "type": "boolean"}],
}


def test_poison_records_go_to_the_dlq_and_the_partition_flows(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]
) -> None:
    node = RtNode(infra, prefix, APP, tmp_path)
    nodes.append(node.start())
    # JSON: a bad record and a terminally failing one between good ones, one partition.
    jtopic, jdlq = f"{prefix}.json", f"{prefix}.json.dlq"
    create_topic(infra, jtopic, 1)
    subscribe(node, jtopic, "SeqCounter/fail_some", dlq=jdlq, **{"auto.offset.reset": "earliest"})
    prod = Producer(infra.kafka_config())
    # Record 5 is valid JSON but too large for an rt.log record (about 950 KB).
    big = b'{"seq": 5, "pad": "' + b"x" * 950_000 + b'"}'
    values = [b'{"seq": 1}', b'{"seq": 2, oops', b'{"seq": 3, "fail": true}', b'{"seq": 4}',
              big, b'{"seq": 6}']  # fmt: skip
    for v in values:
        prod.produce(jtopic, key=b"j", value=v, headers=[("trace", b"t-1")])
    # Avro: a bad body between good ones.
    atopic, adlq = f"{prefix}.avro", f"{prefix}.avro.dlq"
    create_topic(infra, atopic, 1)
    subscribe(
        node, atopic, "SeqCounter/fail_some", dlq=adlq, format="avro",
        **{"avro.schema": json.dumps(AVRO_SCHEMA), "auto.offset.reset": "earliest"},
    )  # fmt: skip
    parsed = fastavro.parse_schema(AVRO_SCHEMA)

    def avro(seq: int) -> bytes:
        import io

        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, parsed, {"seq": seq, "fail": False})
        return buf.getvalue()

    for v in (avro(1), b"\xff\xff\xff\xff\xff\xff", avro(2)):
        prod.produce(atopic, key=b"a", value=v)
    assert prod.flush(30) == 0

    states = wait_counts(node, {"j": 3, "a": 2}, timeout=120)
    assert states["j"] == {"count": 3, "last": 6}
    assert states["a"] == {"count": 2, "last": 2}

    jdead = read_all(infra, jdlq, 3)
    assert len(jdead) == 3
    by_reason = {dict(m.headers())["rt.dlq.reason"]: m for m in jdead if m.value() != big}
    (large,) = [m for m in jdead if m.value() == big]
    assert b"too large for rt.log" in dict(large.headers())["rt.dlq.error"]
    bad = by_reason[b"decode"]
    assert bad.value() == values[1] and bad.key() == b"j"
    h = dict(bad.headers())
    assert b"not valid JSON" in h["rt.dlq.error"]
    assert h["kafka.offset"] == b"1" and h["trace"] == b"t-1"
    failed = by_reason[b"failed"]
    assert failed.value() == values[2] and failed.key() == b"j"
    h = dict(failed.headers())
    assert h["rt.dlq.error"] == b"refusing record 3" and h["rt.dlq.code"] == b"422"
    assert h["kafka.offset"] == b"2" and h["rt.dlq.invocation.id"].startswith(b"inv_")

    adead = read_all(infra, adlq, 1)
    assert len(adead) == 1
    assert adead[0].value() == b"\xff\xff\xff\xff\xff\xff"
    assert b"not valid Avro" in dict(adead[0].headers())["rt.dlq.error"]


def test_handler_sees_value_and_kafka_metadata_headers(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode], redis_client: redis.Redis
) -> None:
    node = RtNode(infra, prefix, APP, tmp_path)
    nodes.append(node.start())
    topic = f"{prefix}.events"
    create_topic(infra, topic, 2)
    sub = subscribe(node, topic, "Recorder/record", **{"auto.offset.reset": "earliest"})
    prod = Producer(infra.kafka_config())
    # A recent timestamp: one older than the broker's retention (7 days) lets its periodic
    # retention check delete the record before the subscription reads it.
    ts = int(time.time() * 1000) - 5_000
    prod.produce(topic, key=b"user-1", value=b'{"a": 1}', partition=1, timestamp=ts,
                 headers=[("x-trace", b"abc"), ("kafka.offset", b"spoofed")])  # fmt: skip
    assert prod.flush(30) == 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not redis_client.llen(f"{prefix}:recorded"):
        time.sleep(0.2)
    docs = [json.loads(x) for x in redis_client.lrange(f"{prefix}:recorded", 0, -1)]
    assert len(docs) == 1
    assert docs[0]["value"] == {"a": 1}
    h = docs[0]["headers"]
    assert h["kafka.topic"] == topic and h["kafka.partition"] == "1"
    assert h["kafka.offset"] == "0" and h["kafka.timestamp"] == str(ts)
    assert h["kafka.key"] == "dXNlci0x"  # base64url("user-1"), as Restate
    assert h["restate.subscription.id"] == sub["id"]
    assert h["x-trace"] == "abc"


def test_workflow_run_handler_runs_once_per_workflow_id(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode], redis_client: redis.Redis
) -> None:
    node = RtNode(infra, prefix, APP, tmp_path)
    nodes.append(node.start())
    topic = f"{prefix}.signups"
    create_topic(infra, topic, 1)
    subscribe(node, topic, "Signup/run", **{"auto.offset.reset": "earliest"})
    prod = Producer(infra.kafka_config())
    for key, seq in (("ann", 1), ("bob", 1), ("ann", 2)):
        prod.produce(topic, key=key.encode(), value=json.dumps({"seq": seq}).encode())
    assert prod.flush(30) == 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (
        redis_client.llen(f"{prefix}:runs:ann") and redis_client.llen(f"{prefix}:runs:bob")
    ):
        time.sleep(0.2)
    time.sleep(3)  # a second run of "ann" would show up by now
    assert [json.loads(x) for x in redis_client.lrange(f"{prefix}:runs:ann", 0, -1)] == [{"seq": 1}]
    assert redis_client.llen(f"{prefix}:runs:bob") == 1


# ---------------------------------------------------------------------------------- admin + CLI


def rt(node: RtNode, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli", *args, "--admin-url", node.admin_url],
        capture_output=True,
        text=True,
        timeout=60,
        env={**node.env, "COLUMNS": "250"},
    )


def test_cli_subscribe_ls_rm_and_restart(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]
) -> None:
    topic = f"{prefix}.orders"
    create_topic(infra, topic, 2)
    node = RtNode(infra, prefix, APP, tmp_path)
    nodes.append(node.start())

    bad_topic = rt(node, "subscribe", "--topic", f"{prefix}.nope", "--to", "SeqCounter/add")
    assert bad_topic.returncode != 0
    assert f"topic '{prefix}.nope' does not exist" in bad_topic.stderr
    bad_handler = rt(node, "subscribe", "--topic", topic, "--to", "SeqCounter/nope")
    assert bad_handler.returncode != 0 and "handler 'nope' not found" in bad_handler.stderr
    bad_service = rt(node, "subscribe", "--topic", topic, "--to", "Nope/add")
    assert bad_service.returncode != 0 and "service 'Nope' not found" in bad_service.stderr
    private = rt(node, "subscribe", "--topic", topic, "--to", "SeqCounter/internal")
    assert private.returncode != 0 and "private" in private.stderr
    bad_format = rt(
        node, "subscribe", "--topic", topic, "--to", "SeqCounter/add", "--format", "xml"
    )
    assert bad_format.returncode != 0
    assert httpx.get(f"{node.admin_url}/subscriptions").json() == {"subscriptions": []}
    bad_scheme = httpx.post(
        f"{node.admin_url}/subscriptions",
        json={"source": f"http://x/{topic}", "sink": "service://SeqCounter/add"},
    )
    assert bad_scheme.status_code == 400 and "kafka://" in bad_scheme.json()["message"]
    other = httpx.post(
        f"{node.admin_url}/subscriptions",
        json={"source": f"kafka://prod/{topic}", "sink": "service://SeqCounter/add"},
    )
    assert other.status_code == 400 and "unknown Kafka cluster 'prod'" in other.json()["message"]

    made = rt(node, "subscribe", "--topic", topic, "--to", "SeqCounter/add", "--from", "earliest",
              "--dlq", f"{prefix}.orders.dlq")  # fmt: skip
    assert made.returncode == 0, made.stderr
    subs = httpx.get(f"{node.admin_url}/subscriptions").json()["subscriptions"]
    assert len(subs) == 1
    sub_id = subs[0]["id"]
    assert sub_id in made.stdout
    assert subs[0]["options"] == {"auto.offset.reset": "earliest", "dlq": f"{prefix}.orders.dlq"}

    listed = rt(node, "subscriptions", "ls")
    assert listed.returncode == 0, listed.stderr
    for col in ("ID", "SOURCE", "SINK", "OPTIONS"):
        assert col in listed.stdout
    assert sub_id in listed.stdout and f"kafka://default/{topic}" in listed.stdout

    expected = fill_keyed(infra, topic, 200, keys=5)
    assert_exact(wait_counts(node, expected, timeout=120), expected)

    # Survives a restart (read back from the registry topic) and keeps consuming.
    node.stop()
    node.start()
    listed = rt(node, "subscriptions", "ls")
    assert sub_id in listed.stdout
    more = fill_keyed(infra, topic, 200, keys=5)
    total = {k: expected[k] + more[k] for k in expected}
    states = wait_counts(node, total, timeout=120)
    for k, n in total.items():
        assert states[k]["count"] == n and states[k].get("errors", 0) == 1  # seq restarts at 1

    gone = rt(node, "subscriptions", "rm", "sub_doesnotexist")
    assert gone.returncode != 0 and "does not exist" in gone.stderr
    removed = rt(node, "subscriptions", "rm", sub_id)
    assert removed.returncode == 0, removed.stderr
    assert httpx.get(f"{node.admin_url}/subscriptions").json() == {"subscriptions": []}
    assert httpx.get(f"{node.admin_url}/subscriptions/{sub_id}").status_code == 404
    # Removed means removed: records produced now are not consumed, also after a restart.
    fill_keyed(infra, topic, 20, keys=5)
    node.stop()
    node.start()
    time.sleep(5)
    states = {k: state_of(node, "SeqCounter", k) for k in total}
    assert {k: states[k]["count"] for k in total} == total
    assert rt(node, "subscriptions", "ls").stdout.count("sub_") == 0
