"""The service ``bench/timers.py`` schedules: records when each delayed invocation started."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from typing import Any

import redis

import sdk as restate
from sdk import Context

_r = redis.Redis.from_url(os.environ["RT_BENCH_REDIS"])
_KEY = os.environ.get("RT_BENCH_KEY", "rt-bench-timers")

bench_timer = restate.Service("BenchTimer")


@bench_timer.handler()
async def hit(ctx: Context, tag: str) -> None:
    """Handler-side start time, written outside the journal (a retried attempt writes again)."""
    _r.hsetnx(_KEY, tag, int(time.time() * 1000))


@bench_timer.handler()
async def fan_out(ctx: Context, req: dict[str, Any]) -> int:
    """Schedules ``count`` delayed sends of ``hit`` due at ``first + i * step`` ms.

    Each tag carries its due time; the delay is computed against the wall clock
    the SDK uses for ``send_delay`` (within a millisecond of it).
    """
    for i in range(req["count"]):
        due = req["first"] + i * req["step"]
        delay = max(1, due - int(time.time() * 1000))
        ctx.service_send(hit, f"{req['tag']}{i}|{due}", send_delay=timedelta(milliseconds=delay))
    return int(req["count"])


app = restate.app([bench_timer])
