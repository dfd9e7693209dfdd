"""Named signals (``ctx.signal`` / ``resolve_signal`` / ``reject_signal``), used by
``tests/e2e/test_signals.py``.

Side effects are counted in Redis outside the journal (``RT_TEST_REDIS``, ``RT_TEST_NS``),
so a test can tell how often a step really ran and when a handler waits.
"""

from __future__ import annotations

import os
from datetime import timedelta

import redis

import sdk as restate
from sdk import (
    Context,
    ObjectContext,
    ObjectSharedContext,
    TerminalError,
    WorkflowContext,
    WorkflowSharedContext,
)

_URL = os.environ.get("RT_TEST_REDIS")
_r = redis.Redis.from_url(_URL) if _URL else None
NS = os.environ.get("RT_TEST_NS", "test")
REPLAY = timedelta(0) if os.environ.get("SIG_ALWAYS_REPLAY") == "1" else None
"""Always-replay mode: every service suspends at each await and resumes by replay."""


def _incr(name: str) -> int:
    assert _r is not None, "signals_app needs RT_TEST_REDIS"
    return int(_r.incr(f"{NS}:{name}"))


async def _two(ctx: Context, tag: str) -> str:
    await ctx.run_typed("waiting", _incr, restate.RunOptions(), name=f"waiting:{tag}")
    first = await ctx.signal("go", type_hint=str)
    try:
        second = await ctx.signal("go", type_hint=str)
    except TerminalError as e:
        second = f"rejected:{e.status_code}:{e.message}"
    return f"{first}+{second}"


sig = restate.Service("Sig", inactivity_timeout=REPLAY)


@sig.handler()
async def wait(ctx: Context, tag: str) -> str:
    """Counts ``waiting:tag`` once it is about to wait, then takes two ``go`` signals."""
    return await _two(ctx, tag)


@sig.handler()
async def late(ctx: Context, tag: str) -> str:
    """Asks for its signals only after a 2 s sleep: they may arrive before."""
    await ctx.sleep(timedelta(seconds=2))
    return await _two(ctx, tag)


@sig.handler()
async def deadline(ctx: Context, seconds: int) -> str:
    """A signal raced against a timer."""
    match await restate.select(
        go=ctx.signal("go", type_hint=str), timeout=ctx.sleep(timedelta(seconds=seconds))
    ):
        case ["go", value]:
            return f"signal:{value}"
    return "timed out"


@sig.handler()
async def resolve(ctx: Context, args: list[str]) -> str:
    """``[invocation_id, name, value]``."""
    ctx.resolve_signal(args[0], args[1], args[2])
    return "ok"


sig_obj = restate.VirtualObject("SigObj", inactivity_timeout=REPLAY)


@sig_obj.handler()
async def reject(ctx: ObjectContext, args: list[str]) -> str:
    """``[invocation_id, name, message]``: rejects with 403, from an exclusive handler."""
    ctx.reject_signal(args[0], args[1], args[2], 403)
    return "ok"


@sig_obj.handler(kind="shared")
async def shared_resolve(ctx: ObjectSharedContext, args: list[str]) -> str:
    ctx.resolve_signal(args[0], args[1], args[2])
    return "ok"


sig_wf = restate.Workflow("SigFlow", inactivity_timeout=REPLAY)


@sig_wf.main()
async def run(ctx: WorkflowContext, tag: str) -> str:
    return await _two(ctx, tag)


@sig_wf.handler()
async def poke(ctx: WorkflowSharedContext, args: list[str]) -> str:
    ctx.resolve_signal(args[0], args[1], args[2])
    return "ok"


app = restate.app([sig, sig_obj, sig_wf])
