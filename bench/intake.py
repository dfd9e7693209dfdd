"""Subscription intake rate vs a bare confluent-kafka consumer, on the same pre-filled topic.

Usage (against a running Kafka + Redis, e.g. after ``source /work/infra/env.sh``)::

    .venv/bin/python bench/intake.py [--records 100000] [--partitions 8] [--keys 1000]

Steps: fill ``<prefix>.src`` (JSON ``1`` per record, ``keys`` keys), read it all
with a bare consumer (the physical limit), start ``rt dev bench/services.py`` with
the same Kafka/Redis, subscribe ``Counter/add`` with exactly-once intake, and time

- intake: until the subscription's committed source offsets reach the end
  (every record is an Invoke on rt.log, offsets committed in the same transaction);
- end to end: until the counters add up to ``records`` (every invocation ran).

Both clocks start when the consumer subscribes / the subscription is created,
so both include the consumer-group join (and intake the start of its own
process, which the node spawns per subscription). Prints one JSON line with the rates
and the ratio intake / bare.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import redis
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> int:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        tps = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return sum(max(tp.offset, 0) for tp in tps)
    finally:
        c.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--keys", type=int, default=1000)
    ap.add_argument("--timeout", type=float, default=900)
    args = ap.parse_args()
    bootstrap = os.environ["RT_KAFKA_BOOTSTRAP"]
    redis_url = os.environ["RT_REDIS_URL"]
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
    log = (workdir / "rt.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "runtime.cli", "dev", str(REPO / "bench" / "services.py"),
         "--state-dir", str(workdir / "state"),
         "--ingress-port", str(ingress), "--admin-port", str(admin_port)],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO,
    )  # fmt: skip
    try:
        admin_url = f"http://127.0.0.1:{admin_port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{admin_url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"rt did not start; see {workdir / 'rt.log'}")
            time.sleep(0.2)
        start = time.monotonic()
        r = httpx.post(
            f"{admin_url}/subscriptions",
            json={
                "source": f"kafka://default/{topic}",
                "sink": "service://Counter/add",
                "options": {"auto.offset.reset": "earliest"},
            },
            timeout=60,
        )
        r.raise_for_status()
        group = f"{prefix}.sub.{r.json()['id']}"
        intake_s = e2e_s = first_s = None
        red = redis.Redis.from_url(redis_url)
        while time.monotonic() - start < args.timeout:
            now = time.monotonic() - start
            done = committed(bootstrap, group, topic, args.partitions)
            if first_s is None and done > 0:
                first_s = now
                print(f"first commit after {now:.2f}s", file=sys.stderr, flush=True)
            if intake_s is None and done >= args.records:
                intake_s = now
                print(f"intake done: {args.records / now:.0f} rec/s", file=sys.stderr, flush=True)
            if intake_s is not None:
                total = sum(
                    int(red.hget(k, "count") or 0)
                    for k in red.scan_iter(f"{prefix}:*:state:Counter/*", count=1000)
                )
                if total >= args.records:
                    e2e_s = time.monotonic() - start
                    break
            time.sleep(0.2)
        if intake_s is None or e2e_s is None:
            raise SystemExit(f"timed out (intake {intake_s}, e2e {e2e_s}); see {workdir}")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
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
                "end_to_end_rps": round(args.records / e2e_s),
                "intake_over_bare": round(intake / bare, 3),
                "intake_first_commit_s": round(first_s or 0, 2),
                "intake_s": round(intake_s, 2),
                "loadavg_1m": round(os.getloadavg()[0], 1),
            }
        )
    )


if __name__ == "__main__":
    main()
