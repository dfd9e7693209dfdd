"""A multi-step app for the ``sdk.testing`` harness, run in normal and always-replay mode.

Every ``ctx.run`` body counts its executions in Redis outside the journal
(``RT_TEST_REDIS``/``RT_TEST_NS``), so a test checks that replays never ran a
journaled action again. Handler bodies also count how often they started
(``starts``), which shows that always-replay mode really replayed.
"""

from __future__ import annotations

import os
from datetime import timedelta

import redis

import sdk as restate
from sdk import Context, ObjectContext, WorkflowContext, WorkflowSharedContext

_URL = os.environ.get("RT_TEST_REDIS")
_r = redis.Redis.from_url(_URL) if _URL else None
NS = os.environ.get("RT_TEST_NS", "test")


def _count(key: str, value: int) -> int:
    assert _r is not None, "needs RT_TEST_REDIS"
    _r.incr(f"{NS}:runs:{key}")
    return value


def _started(key: str) -> None:
    assert _r is not None, "needs RT_TEST_REDIS"
    _r.incr(f"{NS}:starts:{key}")


helper = restate.Service("Helper")


@helper.handler()
async def double(ctx: Context, n: int) -> int:
    return n * 2


@helper.handler()
async def resolve(ctx: Context, req: list[str]) -> None:
    ctx.resolve_awakeable(req[0], req[1])


multi = restate.VirtualObject("Multi")


@multi.handler()
async def steps(ctx: ObjectContext, n: int) -> dict[str, object]:
    """run, call, sleep, awakeable, select and state, in one handler."""
    key = ctx.key()
    _started(key)
    a = await ctx.run_typed("one", _count, restate.RunOptions(), f"{key}:one", n)
    b = await ctx.service_call(double, a)
    await ctx.sleep(timedelta(milliseconds=30))
    awk_id, awk = ctx.awakeable(type_hint=str)
    ctx.service_send(resolve, [awk_id, f"woke-{key}"])
    woke = await awk
    awk2_id, awk2 = ctx.awakeable(type_hint=str)
    ctx.service_send(resolve, [awk2_id, "fast"])
    branch, value = await restate.select(slow=ctx.sleep(timedelta(days=1)), fast=awk2)
    c = await ctx.run_typed("two", _count, restate.RunOptions(), f"{key}:two", b + 1)
    ctx.set("last", c)
    p = ctx.run_typed("p", _count, restate.RunOptions(), f"{key}:p", 100)
    q = ctx.run_typed("q", _count, restate.RunOptions(), f"{key}:q", 200)
    call = ctx.service_call(double, 7)
    gathered = await restate.gather(p, q, call)
    pq = [await f for f in gathered]
    return {"a": a, "b": b, "c": c, "woke": woke, "branch": branch, "value": value, "pq": pq}


signup = restate.Workflow("Signup")


@signup.main()
async def run(ctx: WorkflowContext, email: str) -> str:
    """Waits on a durable promise that the shared handler resolves."""
    _started(ctx.key())
    await ctx.run_typed("send", _count, restate.RunOptions(), f"{ctx.key()}:send", 1)
    ctx.workflow_send(confirm, ctx.key(), f"code-{email}")
    branch, code = await restate.select(
        code=ctx.promise("code", type_hint=str).value(), late=ctx.sleep(timedelta(days=1))
    )
    assert branch == "code"
    await ctx.run_typed("activate", _count, restate.RunOptions(), f"{ctx.key()}:activate", 1)
    return f"{email} confirmed with {code}"


@signup.handler()
async def confirm(ctx: WorkflowSharedContext, code: str) -> str:
    await ctx.promise("code", type_hint=str).resolve(code)
    return "ok"


app = restate.app([helper, multi, signup])
