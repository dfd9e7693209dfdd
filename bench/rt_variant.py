#!/usr/bin/env python3
"""`rt dev` with a few tuning knobs changed in this process only, for A/B experiments (no rt
source change): run it instead of `rt` (run_rt.sh: RT_LAUNCHER=bench/rt_variant.py).

env knobs (unset = rt's own value):
  RT_BENCH_LINGER_MS        producer linger.ms (rt: 0)
  RT_BENCH_FETCH_WAIT_MS    consumer fetch.wait.max.ms (rt: 5)
  RT_BENCH_KAFKA_JVM_EXTRA  extra JVM options for rt dev's broker, space-separated
                            (e.g. "-XX:TieredStopAtLevel=1")
  RT_BENCH_BATCH_THREADS    1: every thread of the rt process but the main one (librdkafka's,
                            the poll threads) runs as SCHED_BATCH, so waking one never preempts
                            the event loop thread (it gets a CPU that is idle, or waits for the
                            loop to block); "infra": also the broker's and Redis' threads

usage: RT_BENCH_LINGER_MS=2 python bench/rt_variant.py dev bench/services.py --fresh ...
"""

import os
import sys

import runtime.cli as cli
from runtime.devstack import kafka as devkafka
from runtime.log import producer as prod
from runtime.partition import membership

linger = os.environ.get("RT_BENCH_LINGER_MS")
if linger:
    _orig_init = prod.LogProducer.__init__

    def _init(self, *a, **kw):  # type: ignore[no-untyped-def]
        kw["linger_ms"] = float(linger)
        _orig_init(self, *a, **kw)

    prod.LogProducer.__init__ = _init

fetch_wait = os.environ.get("RT_BENCH_FETCH_WAIT_MS")
if fetch_wait:
    _Consumer = membership.Consumer

    def _consumer(conf):  # type: ignore[no-untyped-def]
        return _Consumer({**conf, "fetch.wait.max.ms": int(fetch_wait)})

    membership.Consumer = _consumer

jvm = os.environ.get("RT_BENCH_KAFKA_JVM_EXTRA")
if jvm:
    devkafka._JVM_OPTS.extend(jvm.split())

batch_threads = os.environ.get("RT_BENCH_BATCH_THREADS")
if batch_threads:
    import threading
    import time

    def _batch_loop() -> None:
        main = threading.main_thread().native_id
        done: set[int] = set()
        while True:
            pids = [os.getpid()]
            if batch_threads == "infra":
                try:
                    with open(f"/proc/{os.getpid()}/task/{main}/children") as f:
                        pids += [int(x) for x in f.read().split()]
                except OSError:
                    pass
            for pid in pids:
                try:
                    tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
                except OSError:
                    continue
                for tid in tids:
                    if tid == main or tid in done:
                        continue
                    try:
                        os.sched_setscheduler(tid, os.SCHED_BATCH, os.sched_param(0))
                        done.add(tid)
                    except OSError:
                        pass
            time.sleep(1.0)

    threading.Thread(target=_batch_loop, name="rt-bench-batch", daemon=True).start()

if __name__ == "__main__":
    print(
        f"rt_variant: linger_ms={linger} fetch_wait_ms={fetch_wait} kafka_jvm_extra={jvm} "
        f"batch_threads={batch_threads}",
        file=sys.stderr,
    )
    sys.argv = ["rt", *sys.argv[1:]]
    cli.main()
