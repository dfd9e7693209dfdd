"""Services for the pause, resume and restart-as-new e2e tests.

What a handler did is recorded in Redis outside the journal (``RT_TEST_REDIS`` and
``RT_TEST_NS`` come from the test): every ``ctx.run`` body pushes to a list, so a
test sees that each ran exactly once (or again, after a restart from the start).
"""

from __future__ import annotations

import os
from datetime import timedelta

import redis

import sdk as restate
from sdk import Context

_URL = os.environ.get("RT_TEST_REDIS")
_r = redis.Redis.from_url(_URL) if _URL else None
NS = os.environ.get("RT_TEST_NS", "test")


def _did(tag: str, what: str) -> str:
    assert _r is not None, "needs RT_TEST_REDIS"
    _r.rpush(f"{NS}:did:{tag}", what)
    return what


gate = restate.Service("Gate")


@gate.handler(
    invocation_retry_policy=restate.InvocationRetryPolicy(
        initial_interval=timedelta(milliseconds=50),
        max_interval=timedelta(milliseconds=100),
        max_attempts=3,
        on_max_attempts="pause",
    )
)
async def work(ctx: Context, tag: str) -> str:
    """One journaled step, then fails (retryably) while the gate ``{NS}:open:{tag}`` is
    closed: three attempts, then the invocation pauses."""
    assert _r is not None
    await ctx.run_typed("prepare", _did, restate.RunOptions(), tag, "prepare")
    if not _r.exists(f"{NS}:open:{tag}"):
        raise RuntimeError(f"gate {tag} is closed")
    await ctx.run_typed("finish", _did, restate.RunOptions(), tag, "finish")
    return f"done {tag}"


sleeper = restate.Service("Sleeper")


@sleeper.handler()
async def nap(ctx: Context, tag: str) -> str:
    """A step, a durable sleep of 3 s, then a final step."""
    await ctx.run_typed("before", _did, restate.RunOptions(), tag, "before")
    await ctx.sleep(timedelta(seconds=3))
    await ctx.run_typed("after", _did, restate.RunOptions(), tag, "after")
    return f"rested {tag}"


@sleeper.handler()
async def doze(ctx: Context, tag: str) -> str:
    """A step, then a durable sleep of an hour (the test ends it)."""
    await ctx.run_typed("before", _did, restate.RunOptions(), tag, "before")
    await ctx.sleep(timedelta(hours=1))
    return f"rested {tag}"


steps = restate.Service("Steps")


@steps.handler()
async def three(ctx: Context, tag: str) -> str:
    """Three journaled steps; the result names the attempt's view of each."""
    got = [
        await ctx.run_typed(f"s{i}", _did, restate.RunOptions(), tag, f"s{i}") for i in (1, 2, 3)
    ]
    return "+".join(got)


app = restate.app([gate, sleeper, steps])
