"""Services for the timer and cron e2e tests.

Handlers record what they observe in Redis *outside* the journal
(``RT_TEST_REDIS`` / ``RT_TEST_NS`` come from the test): how often a handler
body ran and the wall-clock time it started, so a test can check "once" and
"not early" from the handler's side.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from typing import Any

import redis

import sdk as restate
from sdk import Context, ObjectContext, WorkflowContext, WorkflowSharedContext

_URL = os.environ.get("RT_TEST_REDIS")
_r = redis.Redis.from_url(_URL) if _URL else None
NS = os.environ.get("RT_TEST_NS", "test")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _record(kind: str, tag: str) -> None:
    assert _r is not None, "timers_app needs RT_TEST_REDIS"
    pipe = _r.pipeline(transaction=False)
    pipe.incr(f"{NS}:{kind}:count:{tag}")
    pipe.hset(f"{NS}:{kind}:at", tag, _now_ms())
    pipe.execute()


stamp = restate.Service("Stamp")


@stamp.handler()
async def hit(ctx: Context, tag: str) -> str:
    """Counts its runs and records when it started (delayed sends, cron ticks)."""
    _record("hit", tag)
    return tag


@stamp.handler()
async def tick(ctx: Context, body: Any) -> None:
    """A cron target: records the invocation id (one per tick) and the start time."""
    req = ctx.request()
    _record("tick", req.id)
    assert _r is not None
    job = req.headers.get("x-rt-cron-job", "?")
    _r.rpush(f"{NS}:ticks:{job}", f"{req.id} {req.headers.get('x-rt-cron-tick', '?')}")


@stamp.handler()
async def send_later(ctx: Context, req: dict[str, Any]) -> str:
    """Delayed sends from a handler: ``send_delay=`` to a service and to an object."""
    delay = timedelta(milliseconds=int(req["ms"]))
    ctx.service_send(hit, f"{req['tag']}-svc", send_delay=delay)
    ctx.object_send(mark, str(req["key"]), f"{req['tag']}-obj", send_delay=delay)
    return "sent"


sleeper = restate.Service("Sleeper")


@sleeper.handler()
async def nap(ctx: Context, req: dict[str, Any]) -> int:
    """Sleeps ``ms``; records the due time (journaled) and when the body resumed after it."""
    due = await ctx.run_typed("due", lambda: _now_ms() + int(req["ms"]), restate.RunOptions())
    await ctx.sleep(timedelta(milliseconds=int(req["ms"])))
    assert _r is not None
    _r.hset(f"{NS}:due", str(req["tag"]), due)
    _record("woke", str(req["tag"]))
    return int(due)


locker = restate.VirtualObject("Locker")


@locker.handler()
async def mark(ctx: ObjectContext, tag: str) -> str:
    """Exclusive: records that it ran."""
    _record("mark", tag)
    return tag


@locker.handler()
async def poke(ctx: ObjectContext) -> str:
    """Exclusive and instant: completes only when nothing holds the key."""
    return "poked"


report = restate.Workflow("Report")


@report.main()
async def run(ctx: WorkflowContext) -> str:
    """A cron-started workflow run per tick: records its workflow id (the key)."""
    assert _r is not None
    _r.rpush(f"{NS}:reports", ctx.key())
    return ctx.key()


@report.handler()
async def ping(ctx: WorkflowSharedContext) -> None:
    assert _r is not None
    _r.rpush(f"{NS}:pings:{ctx.key()}", ctx.request().id)


app = restate.app([stamp, sleeper, locker, report])
