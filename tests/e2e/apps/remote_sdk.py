"""Services written with the real Restate Python SDK (restate-sdk from PyPI), registered
with rt by URL in tests/e2e/test_deployments.py.

Served by hypercorn over h2c: ``python -m hypercorn tests.e2e.apps.remote_sdk:app``.
``RT_TEST_VERSION`` names the code version (v1, v2: what ``Greeter.version`` answers);
``RT_TEST_BREAKING=1`` declares ``Counter.get`` exclusive instead of shared (a breaking
change of a handler's kind).
"""

from __future__ import annotations

import os
from datetime import timedelta

import restate
from restate import Context, ObjectContext, ObjectSharedContext

VERSION = os.environ.get("RT_TEST_VERSION", "v1")
BREAKING = os.environ.get("RT_TEST_BREAKING") == "1"

counter = restate.VirtualObject("Counter")


@counter.handler()
async def add(ctx: ObjectContext, n: int) -> int:
    count = (await ctx.get("count", type_hint=int)) or 0
    count += n
    ctx.set("count", count)
    return count


if BREAKING:

    @counter.handler(name="get")
    async def get_exclusive(ctx: ObjectContext) -> int:
        return (await ctx.get("count", type_hint=int)) or 0

else:

    @counter.handler(kind="shared")
    async def get(ctx: ObjectSharedContext) -> int:
        return (await ctx.get("count", type_hint=int)) or 0


greeter = restate.Service("Greeter")


@greeter.handler()
async def greet(ctx: Context, name: str) -> str:
    return f"Hello {name} from {VERSION}"


@greeter.handler()
async def greet_later(ctx: Context, name: str) -> str:
    await ctx.sleep(timedelta(milliseconds=300))
    return f"Hello {name}, later"


@greeter.handler()
async def count_for(ctx: Context, name: str) -> int:
    n = await ctx.object_call(add, key=name, arg=1)
    ctx.object_send(add, key=name, arg=10)
    return n


def _double(n: int) -> int:
    return 2 * n


@greeter.handler()
async def double_twice(ctx: Context, n: int) -> int:
    a = await ctx.run_typed("first", _double, restate.RunOptions(), n)
    return await ctx.run_typed("second", _double, restate.RunOptions(), a)


@greeter.handler(inactivity_timeout=timedelta(milliseconds=300))
async def version_after(ctx: Context, ms: int) -> str:
    """Sleeps, then answers the version of the code it runs on (for pinning). Asked to
    suspend 300 ms into the sleep, it resumes in a new attempt (on the pinned deployment)."""
    before = VERSION
    await ctx.sleep(timedelta(milliseconds=ms))
    return f"started on {before}, finished on {VERSION}"


signup = restate.Workflow("Signup")


@signup.main()
async def run(ctx: restate.WorkflowContext, email: str) -> str:
    ctx.set("email", email)
    clicked = await ctx.promise("link", type_hint=str).value()
    return f"{email} confirmed by {clicked}"


@signup.handler()
async def click(ctx: restate.WorkflowSharedContext, who: str) -> None:
    await ctx.promise("link", type_hint=str).resolve(who)


@signup.handler()
async def email(ctx: restate.WorkflowSharedContext) -> str | None:
    return await ctx.get("email", type_hint=str)


app = restate.app([greeter, counter, signup])
