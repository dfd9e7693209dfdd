"""Subscription intake rate vs a bare confluent-kafka consumer, on the same pre-filled topic.

Usage, from the repository root::

    .venv/bin/python bench/intake.py [--records 1000000] [--partitions 8] [--keys 1000] [--e2e]

It uses the Kafka and Redis named by ``RT_KAFKA_BOOTSTRAP`` / ``RT_REDIS_URL``, and
starts a local one of each for the run (rt's devstack) when they are not set.

Steps: fill ``<prefix>.src`` (JSON ``1`` per record, ``keys`` keys), read it all
with a bare consumer (the physical limit), start ``rt dev bench/services.py`` with
the same Kafka/Redis, subscribe ``Counter/add`` with exactly-once intake, and time

- intake: until the subscription's committed source offsets reach the end
  (every record is on rt.log, offsets committed in the same transaction);
- end to end (``--e2e``): until the counters add up to ``records`` (every
  invocation ran; about 1,500/s, so use it with ``--records 100000``).

Both clocks start when the consumer subscribes / the subscription is created,
so both include the consumer-group join, and intake also the start of its own
process and of its transactional producers (about 0.6 s in all): the default of
a million records measures the rate rather than the start-up. The node starts
running the Invokes while intake goes on, on the same cores. Prints one JSON line
with the rates and the ratio intake / bare. The run's topics and Redis keys are
deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis
from benchutil import drop_keys, free_port, kafka_and_redis, rt_dev, subscribe
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

REPO = Path(__file__).resolve().parents[1]


def fill(bootstrap: str, topic: str, records: int, keys: int) -> None:
    prod = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50, "enable.idempotence": True})
    for i in range(records):
        while True:
            try:
                prod.produce(topic, key=f"k{i % keys}".encode(), value=b"1")
                break
            except BufferError:
                prod.poll(0.05)
        if i % 5000 == 0:
            prod.poll(0)
    assert prod.flush(120) == 0


def bare_consumer(bootstrap: str, topic: str, records: int) -> float:
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-bare-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    start = time.monotonic()
    c.subscribe([topic])
    n = 0
    while n < records:
        for m in c.consume(num_messages=5000, timeout=0.5):
            if m.error() is None:
                n += 1
    elapsed = time.monotonic() - start
    c.close()
    return elapsed


def committed(c: Consumer, topic: str, partitions: int) -> int:
    """Records of ``topic`` the consumer's group has committed (a reader, never a member)."""
    tps = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
    return sum(max(tp.offset, 0) for tp in tps)


def wait(
    args: argparse.Namespace,
    bootstrap: str,
    group: str,
    topic: str,
    red: redis.Redis,
    prefix: str,
    start: float,
) -> tuple[float, float | None, float]:
    """Seconds from ``start`` until intake committed everything (and, with ``--e2e``, until
    every invocation ran), and until the first commit."""
    reader = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group, "isolation.level": "read_uncommitted"}
    )  # read_committed would wait out every open transaction's offset commit
    try:
        return _wait(args, reader, topic, red, prefix, start)
    finally:
        reader.close()


def _wait(
    args: argparse.Namespace,
    reader: Consumer,
    topic: str,
    red: redis.Redis,
    prefix: str,
    start: float,
) -> tuple[float, float | None, float]:
    intake_s = e2e_s = first_s = None
    while time.monotonic() - start < args.timeout:
        done = committed(reader, topic, args.partitions)
        now = time.monotonic() - start
        if first_s is None and done > 0:
            first_s = now
            print(f"first commit after {now:.2f}s", file=sys.stderr, flush=True)
        if intake_s is None and done >= args.records:
            intake_s = now
            print(f"intake done: {args.records / now:.0f} rec/s", file=sys.stderr, flush=True)
            if not args.e2e:
                break
        if intake_s is not None:
            total = sum(
                int(red.hget(k, "count") or 0)
                for k in red.scan_iter(f"{prefix}:*:state:Counter/*", count=1000)
            )
            if total >= args.records:
                e2e_s = time.monotonic() - start
                break
        time.sleep(0.05 if intake_s is None else 0.2)
    if intake_s is None or first_s is None or (args.e2e and e2e_s is None):
        raise SystemExit(f"timed out (intake {intake_s}, e2e {e2e_s})")
    return intake_s, e2e_s, first_s


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--keys", type=int, default=1000)
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument(
        "--e2e",
        action="store_true",
        help="also wait until every invocation ran (minutes for large --records)",
    )
    args = ap.parse_args()
    with kafka_and_redis() as (bootstrap, redis_url):
        run(args, bootstrap, redis_url)


def run(args: argparse.Namespace, bootstrap: str, redis_url: str) -> None:
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    topic = f"{prefix}.src"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=args.partitions)])[topic].result(30)
    fill(bootstrap, topic, args.records, args.keys)

    bare_s = bare_consumer(bootstrap, topic, args.records)

    ingress, admin_port = free_port(), free_port()
    workdir = Path(tempfile.mkdtemp(prefix="rt-bench-intake-"))
    env = {
        **os.environ,
        "RT_TOPIC_PREFIX": prefix,
        "RT_PARTITIONS": str(args.partitions),
        "RT_KAFKA_BOOTSTRAP": bootstrap,
        "RT_REDIS_URL": redis_url,
    }
    red = redis.Redis.from_url(redis_url)
    try:
        with rt_dev(REPO / "bench" / "services.py", workdir, env, ingress, admin_port):
            admin_url = f"http://127.0.0.1:{admin_port}"
            start = time.monotonic()
            group = f"{prefix}.sub.{subscribe(admin_url, topic, 'Counter/add')}"
            intake_s, e2e_s, first_s = wait(args, bootstrap, group, topic, red, prefix, start)
    finally:
        # A shared Kafka and Redis should not grow with every run (1M invocations ≈ 3 GB).
        drop_keys(red, prefix)
        ours = [t for t in admin.list_topics(timeout=10).topics if t.startswith(f"{prefix}.")]
        for fut in admin.delete_topics(ours).values():
            fut.result(30)
    bare = args.records / bare_s
    intake = args.records / intake_s
    print(
        json.dumps(
            {
                "records": args.records,
                "partitions": args.partitions,
                "keys": args.keys,
                "bare_consumer_rps": round(bare),
                "intake_exactly_once_rps": round(intake),
                "end_to_end_rps": round(args.records / e2e_s) if e2e_s else None,
                "intake_over_bare": round(intake / bare, 3),
                "intake_first_commit_s": round(first_s, 2),
                "intake_s": round(intake_s, 2),
                "loadavg_1m": round(os.getloadavg()[0], 1),
            }
        )
    )


if __name__ == "__main__":
    main()
