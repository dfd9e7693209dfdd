"""Batched execution across kill -9: exact per-key counts and order with many records.

Usage (from the repository root, after ``./scripts/setup.sh``)::

    .venv/bin/python bench/batched_faults.py [--records 100000] [--keys 1000]
        [--partitions 8] [--kills 5] [--seed 1] [--normal]

A topic is pre-filled with ``records`` JSON records ``{"seq": n}`` over ``keys`` keys
(seq counts per key). ``rt dev bench/seq_services.py`` with batched execution on (ADR
0020; ``--normal`` turns it off) counts them through a subscription into
``SeqCounter/add``; ``kills`` times, at a seeded random moment while records are
being counted, the node is killed with SIGKILL and started again (the same prefix:
it resumes from Kafka and Redis). At the end every key's count and last seq must
equal the records of that key, with no record out of order. Prints one JSON line.
The in-suite version is ``tests/e2e/test_batched.py`` (a few thousand records).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import redis
from benchutil import drop_keys, free_port, kafka_and_redis, subscribe
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

REPO = Path(__file__).resolve().parents[1]
APP = "seq_services.py"


def fill(bootstrap: str, topic: str, records: int, keys: int) -> dict[str, int]:
    prod = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50, "enable.idempotence": True})
    seqs: Counter[str] = Counter()
    for i in range(records):
        key = f"k{i % keys}"
        seqs[key] += 1
        value = json.dumps({"seq": seqs[key]}).encode()
        while True:
            try:
                prod.produce(topic, key=key.encode(), value=value)
                break
            except BufferError:
                prod.poll(0.05)
        if i % 5000 == 0:
            prod.poll(0)
    assert prod.flush(120) == 0
    return dict(seqs)


class Node:
    """``rt dev`` that can be killed with SIGKILL and started again on the same ports."""

    def __init__(self, state: Path, env: dict[str, str]) -> None:
        self.state, self.env = state, env
        self.ingress, self.admin = free_port(), free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with (self.state / "rt.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "runtime.cli", "dev", str(REPO / "bench" / APP),
                 "--state-dir", str(self.state), "--ingress-port", str(self.ingress),
                 "--admin-port", str(self.admin)],
                env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 90
        while True:
            try:
                url = f"http://127.0.0.1:{self.ingress}/restate/health"
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit(f"rt did not start; see {self.state / 'rt.log'}")
            time.sleep(0.2)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def states(red: redis.Redis, prefix: str) -> dict[str, dict[bytes, bytes]]:
    out: dict[str, dict[bytes, bytes]] = {}
    for k in red.scan_iter(f"{prefix}:*:state:SeqCounter/*", 1000):
        out[k.decode().rsplit("/", 1)[1]] = dict(red.hgetall(k))  # type: ignore[arg-type]
    return out


def counted(red: redis.Redis, prefix: str) -> int:
    return sum(int(s.get(b"count", 0)) for s in states(red, prefix).values())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--keys", type=int, default=1000)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--normal", action="store_true", help="batched execution off")
    ap.add_argument("--timeout", type=float, default=900)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with (
        tempfile.TemporaryDirectory(prefix="rt-bench-faults-") as tmp,
        kafka_and_redis() as (
            bootstrap,
            redis_url,
        ),
    ):
        topic = f"bench-seq-{uuid.uuid4().hex[:8]}"
        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.create_topics([NewTopic(topic, num_partitions=args.partitions)])[topic].result(30)
        expected = fill(bootstrap, topic, args.records, args.keys)
        prefix = f"faults{uuid.uuid4().hex[:8]}"
        env = {
            **os.environ,
            "RT_TOPIC_PREFIX": prefix,
            "RT_PARTITIONS": str(args.partitions),
            "RT_KAFKA_BOOTSTRAP": bootstrap,
            "RT_REDIS_URL": redis_url,
            "RT_BATCHED_EXECUTION": "0" if args.normal else "1",
        }
        red = redis.Redis.from_url(redis_url)
        node = Node(Path(tmp), env)
        node.start()
        start = time.monotonic()
        kills: list[int] = []
        try:
            subscribe(f"http://127.0.0.1:{node.admin}", topic, "SeqCounter/add")
            marks = sorted(rng.randint(1, args.records - 1) for _ in range(args.kills))
            for mark in marks:
                while (done := counted(red, prefix)) < mark:
                    if time.monotonic() - start > args.timeout:
                        raise SystemExit(f"timed out at {done} of {args.records}")
                    time.sleep(0.05)
                time.sleep(rng.uniform(0, 0.2))
                node.kill9()
                kills.append(counted(red, prefix))
                node.start()
            while (done := counted(red, prefix)) < args.records:
                if time.monotonic() - start > args.timeout:
                    raise SystemExit(f"timed out at {done} of {args.records}")
                time.sleep(0.2)
            time.sleep(2)  # anything counted twice shows up here
            final = states(red, prefix)
        finally:
            node.stop()
            drop_keys(red, prefix)
            admin.delete_topics([topic])[topic].result(30)
            del admin
    bad = {
        k: {f.decode(): v.decode() for f, v in final.get(k, {}).items()}
        for k, n in expected.items()
        if final.get(k, {}).get(b"count") != str(n).encode()
        or final.get(k, {}).get(b"last") != str(n).encode()
        or b"errors" in final.get(k, {})
    }
    result = {
        "records": args.records,
        "keys": args.keys,
        "batched": not args.normal,
        "kills_at_counted": kills,
        "elapsed_s": round(time.monotonic() - start, 1),
        "exact": not bad,
        "bad_keys": dict(list(bad.items())[:5]),
    }
    print(json.dumps(result))
    if bad:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
