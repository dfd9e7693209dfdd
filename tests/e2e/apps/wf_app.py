"""Workflows, promises, awakeables and attach, used by ``tests/e2e/test_workflows.py``.

Side effects are counted in Redis *outside* the journal (``RT_TEST_REDIS`` and
``RT_TEST_NS`` come from the test), so a test can tell how often a workflow's
``run`` really executed; awakeable ids are published there too, the way a real
handler would hand them to an external system.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import redis

import sdk as restate
from sdk import (
    Context,
    ObjectContext,
    TerminalError,
    WorkflowContext,
    WorkflowSharedContext,
)

_URL = os.environ.get("RT_TEST_REDIS")
_r = redis.Redis.from_url(_URL) if _URL else None
NS = os.environ.get("RT_TEST_NS", "test")
REPLAY = timedelta(0) if os.environ.get("WF_ALWAYS_REPLAY") == "1" else None
"""Always-replay mode: every service suspends at each await and resumes by replay."""


def _incr(name: str) -> int:
    assert _r is not None, "wf_app needs RT_TEST_REDIS"
    return int(_r.incr(f"{NS}:{name}"))


def _publish(name: str, value: str) -> str:
    assert _r is not None, "wf_app needs RT_TEST_REDIS"
    _r.set(f"{NS}:{name}", value)
    return value


# -- exactly once per id ---------------------------------------------------------------------

once = restate.Workflow("Once", inactivity_timeout=REPLAY)


@once.main()
async def run(ctx: WorkflowContext, n: int) -> str:
    """Counts its executions; the sleep keeps it running while duplicates arrive."""
    await ctx.run_typed("count", _incr, restate.RunOptions(), f"runs:{ctx.key()}")
    await ctx.sleep(timedelta(milliseconds=300))
    return f"done-{ctx.key()}-{n}"


# -- promises and shared handlers ------------------------------------------------------------

gate = restate.Workflow("Gate", inactivity_timeout=REPLAY)


@gate.main(name="run")
async def gate_run(ctx: WorkflowContext, name: str) -> str:
    """Waits for the ``approval`` promise (signalled by ``approve``), then for ``go``."""
    await ctx.run_typed("count", _incr, restate.RunOptions(), f"runs:{ctx.key()}")
    ctx.set("status", "waiting")
    try:
        approval = await ctx.promise("approval", type_hint=str).value()
    except TerminalError as e:
        ctx.set("status", "rejected")
        return f"rejected:{e.status_code}:{e.message}"
    ctx.set("status", f"approved:{approval}")
    go = await ctx.promise("go", type_hint=int)
    ctx.set("status", "done")
    return f"{name}:{approval}:{go}"


@gate.handler()
async def approve(ctx: WorkflowSharedContext, value: str) -> str:
    await ctx.promise("approval", type_hint=str).resolve(value)
    return "ok"


@gate.handler()
async def deny(ctx: WorkflowSharedContext, reason: str) -> str:
    await ctx.promise("approval", type_hint=str).reject(reason, 403)
    return "ok"


@gate.handler()
async def go(ctx: WorkflowSharedContext, n: int) -> str:
    await ctx.promise("go", type_hint=int).resolve(n)
    return "ok"


@gate.handler()
async def peek(ctx: WorkflowSharedContext) -> str | None:
    return await ctx.promise("approval", type_hint=str).peek()


@gate.handler()
async def status(ctx: WorkflowSharedContext) -> str | None:
    return await ctx.get("status", type_hint=str)


# -- retention --------------------------------------------------------------------------------

brief = restate.Workflow("Brief", inactivity_timeout=REPLAY)


@brief.main(name="run", workflow_retention=timedelta(seconds=2))
async def brief_run(ctx: WorkflowContext, name: str) -> str:
    """Completes at once; its state, promise and output are purged 2 s later."""
    count = await ctx.run_typed("count", _incr, restate.RunOptions(), f"runs:{ctx.key()}")
    ctx.set("name", name)
    await ctx.promise("seen", type_hint=str).resolve(name)
    return f"{name}#{count}"


@brief.handler()
async def brief_state(ctx: WorkflowSharedContext) -> list[Any]:
    seen = await ctx.promise("seen", type_hint=str).peek()
    return [await ctx.get("name", type_hint=str), seen]


@brief.handler()
async def brief_wait(ctx: WorkflowSharedContext) -> str:
    """Waits for the ``later`` promise, also across the purge of the run."""
    return await ctx.promise("later", type_hint=str).value()


@brief.handler()
async def brief_resolve(ctx: WorkflowSharedContext, value: str) -> str:
    await ctx.promise("later", type_hint=str).resolve(value)
    return "resolved"


# -- awakeables and attach ----------------------------------------------------------------------

awk = restate.Service("Awk", inactivity_timeout=REPLAY)


async def _wait_awakeable(ctx: Context, tag: str) -> str:
    awakeable_id, promise = ctx.awakeable(type_hint=str)
    await ctx.run_typed("publish", _publish, restate.RunOptions(), f"awk:{tag}", awakeable_id)
    try:
        return f"got:{await promise}"
    except TerminalError as e:
        return f"rejected:{e.status_code}:{e.message}"


@awk.handler()
async def wait(ctx: Context, tag: str) -> str:
    """Publishes an awakeable id under ``tag`` and waits for it."""
    return await _wait_awakeable(ctx, tag)


@awk.handler()
async def resolve(ctx: Context, args: list[str]) -> str:
    ctx.resolve_awakeable(args[0], args[1])
    return "resolved"


@awk.handler()
async def reject(ctx: Context, args: list[str]) -> str:
    ctx.reject_awakeable(args[0], args[1], 451)
    return "rejected"


@awk.handler()
async def attach(ctx: Context, invocation_id: str) -> str:
    """Waits for another invocation's result from inside a handler."""
    return await ctx.attach_invocation(invocation_id, type_hint=str)


@awk.handler()
async def run_once(ctx: Context, key: str) -> str:
    """Calls ``Once``'s run from a handler: a duplicate is a TerminalError 409."""
    try:
        return await ctx.workflow_call(run, key, 1)
    except TerminalError as e:
        return f"error:{e.status_code}:{e.message}"


awk_obj = restate.VirtualObject("AwkObj", inactivity_timeout=REPLAY)


@awk_obj.handler()
async def obj_wait(ctx: ObjectContext, tag: str) -> str:
    return await _wait_awakeable(ctx, tag)


app = restate.app([once, gate, brief, awk, awk_obj])
