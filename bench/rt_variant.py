#!/usr/bin/env python3
"""`rt dev` with a few tuning knobs changed in this process only, for A/B experiments (no rt
source change): run it instead of `rt` (run_rt.sh: RT_LAUNCHER=bench/rt_variant.py).

env knobs (unset = rt's own value):
  RT_BENCH_LINGER_MS        producer linger.ms (rt: 0)
  RT_BENCH_FETCH_WAIT_MS    consumer fetch.wait.max.ms (rt: 5)
  RT_BENCH_KAFKA_JVM_EXTRA  extra JVM options for rt dev's broker, space-separated
                            (e.g. "-XX:TieredStopAtLevel=1")

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

if __name__ == "__main__":
    print(
        f"rt_variant: linger_ms={linger} fetch_wait_ms={fetch_wait} kafka_jvm_extra={jvm}",
        file=sys.stderr,
    )
    sys.argv = ["rt", *sys.argv[1:]]
    cli.main()
