"""Stream processing end to end: rt (subscription → virtual object) vs Quix Streams.

Usage (from the repository root, after ``./scripts/setup.sh``)::

    .venv/bin/python bench/stream_compare.py [--records 100000] [--partitions 8]
        [--keys 1000] [--rounds 3] [--only rt|quix] [--rt-modes normal,batched]

The same pre-filled topic (JSON ``1`` per record, ``keys`` keys over
``partitions`` partitions) is processed, exactly once, by each system in turn,
alternating for ``rounds`` rounds (A, B, A, B, ...: the host's speed drifts):

- **rt**: ``rt dev bench/services.py``; a subscription (``POST /subscriptions``)
  of the topic into ``Counter/add`` (a virtual object whose handler does
  ``ctx.set("count", count + 1)``). Timed from the subscription's creation until
  the counters in Redis add up to ``records`` (every invocation ran and applied).
- **Quix Streams** (``processing_guarantee="exactly-once"``, state in its RocksDB
  store with a changelog topic): a ``StreamingDataFrame`` that adds 1 to a per-key
  count in its state. Timed from ``app.run`` until it has processed ``records``
  and closed (its last checkpoint committed: state changelog and source offsets
  in one transaction). Installed into its own venv (``~/.cache/rt-bench/quix``,
  ``QUIX_VENV`` to move it), never into rt's.

``--rt-modes normal,batched`` runs rt twice per round, with batched execution off
and on (``RT_BATCHED_EXECUTION``, ADR 0020); ratios are per mode.

Both clocks include the consumer-group join. Kafka and Redis: ``RT_KAFKA_BOOTSTRAP``
and ``RT_REDIS_URL`` when set, otherwise a local pair started for the run (the
project's devstack, under a temporary directory, removed afterwards). Prints one
JSON line per run and a summary with per-round ratios rt / Quix.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import redis
from benchutil import drop_keys, free_port, kafka_and_redis, rt_dev, subscribe
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

REPO = Path(__file__).resolve().parents[1]
QUIX_VERSION = "3.28.1"
QUIX_VENV = Path(os.environ.get("QUIX_VENV", Path.home() / ".cache" / "rt-bench" / "quix"))

QUIX_APP = textwrap.dedent(
    """
    import json, sys, time
    from quixstreams import Application

    bootstrap, topic, group, state_dir, records = sys.argv[1:6]
    records = int(records)
    app = Application(
        broker_address=bootstrap,
        consumer_group=group,
        auto_offset_reset="earliest",
        processing_guarantee="exactly-once",
        state_dir=state_dir,
        loglevel="WARNING",
    )
    src = app.topic(topic, value_deserializer="json", key_deserializer="str")
    sdf = app.dataframe(src)
    last = {}

    def count(value, key, timestamp, headers, state):
        n = state.get("count", 0) + value
        state.set("count", n)
        last[key] = n
        return n

    sdf = sdf.apply(count, stateful=True, metadata=True)
    start = time.monotonic()
    app.run(count=records)
    elapsed = time.monotonic() - start
    print(json.dumps({"elapsed_s": elapsed, "total": sum(last.values()), "keys": len(last)}))
    """
)


def ensure_quix() -> Path:
    py = QUIX_VENV / "bin" / "python"
    if py.exists():
        probe = subprocess.run(
            [str(py), "-c", "import quixstreams; print(quixstreams.__version__)"],
            capture_output=True,
            text=True,
        )
        if probe.stdout.strip() == QUIX_VERSION:
            return py
    print(f"installing quixstreams=={QUIX_VERSION} into {QUIX_VENV}", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(QUIX_VENV)], check=True)
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", f"quixstreams=={QUIX_VERSION}"], check=True
    )
    return py


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


def run_quix(py: Path, bootstrap: str, topic: str, records: int, workdir: Path) -> dict[str, float]:
    app = workdir / "quix_app.py"
    app.write_text(QUIX_APP)
    group = f"quix-{uuid.uuid4().hex[:8]}"
    state_dir = workdir / f"quix-state-{group}"
    out = subprocess.run(
        [str(py), str(app), bootstrap, topic, group, str(state_dir), str(records)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if out.returncode != 0:
        raise SystemExit(f"quix failed:\n{out.stderr[-3000:]}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    if res["total"] != records:
        raise SystemExit(f"quix counted {res['total']} of {records}")
    return {"elapsed_s": res["elapsed_s"], "rps": records / res["elapsed_s"]}


def run_rt(
    bootstrap: str,
    redis_url: str,
    topic: str,
    args: argparse.Namespace,
    workdir: Path,
    batched: bool = False,
) -> dict[str, float]:
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    state = workdir / f"rt-{prefix}"
    state.mkdir()
    env = {
        **os.environ,
        "RT_TOPIC_PREFIX": prefix,
        "RT_PARTITIONS": str(args.partitions),
        "RT_KAFKA_BOOTSTRAP": bootstrap,
        "RT_REDIS_URL": redis_url,
        "RT_BATCHED_EXECUTION": "1" if batched else "0",
    }
    red = redis.Redis.from_url(redis_url)
    try:
        admin_port = free_port()
        with rt_dev(REPO / "bench" / "services.py", state, env, free_port(), admin_port):
            admin_url = f"http://127.0.0.1:{admin_port}"
            start = time.monotonic()
            subscribe(admin_url, topic, "Counter/add")
            pattern = f"{prefix}:*:state:Counter/*"
            while True:
                total = sum(int(red.hget(k, "count") or 0) for k in red.scan_iter(pattern, 1000))
                if total >= args.records:
                    break
                if time.monotonic() - start > args.timeout:
                    raise SystemExit(f"rt timed out at {total} of {args.records}")
                time.sleep(0.1)
            elapsed = time.monotonic() - start
            if total != args.records:
                raise SystemExit(f"rt counted {total} of {args.records}")
    finally:
        drop_keys(red, prefix)
    return {"elapsed_s": elapsed, "rps": args.records / elapsed}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--keys", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", choices=["rt", "quix"])
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument(
        "--rt-modes",
        default="normal",
        help="comma-separated rt modes run in each round: normal, batched (batched execution)",
    )
    args = ap.parse_args()
    modes = [m.strip() for m in args.rt_modes.split(",") if m.strip()]
    if not set(modes) <= {"normal", "batched"}:
        raise SystemExit("--rt-modes takes normal and/or batched")
    quix_py = ensure_quix() if args.only != "rt" else None
    with tempfile.TemporaryDirectory(prefix="rt-bench-stream-") as tmp:
        workdir = Path(tmp)
        with kafka_and_redis() as (bootstrap, redis_url):
            topic = f"bench-src-{uuid.uuid4().hex[:8]}"
            admin = AdminClient({"bootstrap.servers": bootstrap})
            admin.create_topics([NewTopic(topic, num_partitions=args.partitions)])[topic].result(30)
            fill(bootstrap, topic, args.records, args.keys)
            rounds: list[dict[str, float]] = []
            for i in range(args.rounds):
                row: dict[str, float] = {}
                for mode in modes if args.only != "quix" else []:
                    name = "rt_rps" if mode == "normal" else f"rt_{mode}_rps"
                    res = run_rt(bootstrap, redis_url, topic, args, workdir, mode == "batched")
                    row[name] = res["rps"]
                if quix_py is not None:
                    q = run_quix(quix_py, bootstrap, topic, args.records, workdir)
                    row["quix_rps"] = q["rps"]
                for name in ("rt_rps", "rt_batched_rps"):
                    if name in row and "quix_rps" in row:
                        row[name.replace("rps", "ratio")] = row[name] / row["quix_rps"]
                row["loadavg_1m"] = os.getloadavg()[0]
                print(json.dumps({"round": i + 1, **{k: round(v, 3) for k, v in row.items()}}))
                rounds.append(row)
            admin.delete_topics([topic])[topic].result(30)
            del admin  # its client threads must not outlive a local Kafka
    summary = {
        k: round(statistics.median(r[k] for r in rounds), 3)
        for k in ("rt_rps", "rt_batched_rps", "quix_rps", "rt_ratio", "rt_batched_ratio")
        if all(k in r for r in rounds)
    }
    print(json.dumps({"records": args.records, "median": summary}))


if __name__ == "__main__":
    main()
