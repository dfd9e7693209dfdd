"""Test services written with the real Restate Python SDK (restate-sdk 1.2.0).

Served by hypercorn (HTTP/2 cleartext, bidirectional streaming) and by uvicorn
(HTTP/1.1, request/response) in the protocol integration tests: run as
``python -m hypercorn tests.integration.protocol.services_py:app`` or with uvicorn.
"""

from __future__ import annotations

from datetime import timedelta

import restate
from restate import Context, ObjectContext, TerminalError

greeter = restate.Service("Greeter", description="Says hello")


@greeter.handler()
async def greet(ctx: Context, name: str) -> str:
    return f"Hello {name}"


@greeter.handler()
async def fail_terminally(ctx: Context, message: str) -> str:
    raise TerminalError(f"refused: {message}", status_code=422)


@greeter.handler()
async def fail(ctx: Context, message: str) -> str:
    raise RuntimeError(f"transient: {message}")


counter = restate.VirtualObject(
    "Counter",
    inactivity_timeout=timedelta(seconds=30),
    abort_timeout=timedelta(minutes=2),
    journal_retention=timedelta(hours=1),
    invocation_retry_policy=restate.InvocationRetryPolicy(
        initial_interval=timedelta(milliseconds=100),
        max_interval=timedelta(seconds=5),
        max_attempts=7,
        on_max_attempts="kill",
    ),
)


@counter.handler()
async def add(ctx: ObjectContext, n: int) -> int:
    count = (await ctx.get("count", type_hint=int)) or 0
    count += n
    ctx.set("count", count)
    return count


@counter.handler(kind="shared")
async def get(ctx: restate.ObjectSharedContext) -> int:
    return (await ctx.get("count", type_hint=int)) or 0


lazy_counter = restate.VirtualObject("LazyCounter", enable_lazy_state=True)


@lazy_counter.handler()
async def bump(ctx: ObjectContext, n: int) -> int:
    count = (await ctx.get("count", type_hint=int)) or 0
    ctx.set("count", count + n)
    return count + n


runner = restate.Service("Runner")


def _double(n: int) -> int:
    return 2 * n


@runner.handler()
async def double_twice(ctx: Context, n: int) -> int:
    a = await ctx.run_typed("first", _double, restate.RunOptions(), n)
    b = await ctx.run_typed("second", _double, restate.RunOptions(), a)
    return b


sleeper = restate.Service("Sleeper")


@sleeper.handler()
async def nap(ctx: Context, ms: int) -> str:
    await ctx.sleep(timedelta(milliseconds=ms), name="nap")
    return f"slept {ms}"


caller = restate.Service("Caller")


@caller.handler()
async def call_greeter(ctx: Context, name: str) -> str:
    greeting = await ctx.service_call(greet, arg=name)
    ctx.service_send(greet, arg=f"{name} (sent)")
    return f"Greeter said: {greeting}"


waiter = restate.VirtualObject("Waiter")


@waiter.handler()
async def wait_for_approval(ctx: ObjectContext) -> str:
    awakeable_id, approval = ctx.awakeable(type_hint=str)
    ctx.set("awakeable", awakeable_id)
    decision = await approval
    return f"approved by {decision}"


@waiter.handler()
async def approve(ctx: ObjectContext, awakeable_id: str) -> None:
    ctx.resolve_awakeable(awakeable_id, "the board")


workflow = restate.Workflow("Signup")


@workflow.main()
async def run(ctx: restate.WorkflowContext, email: str) -> str:
    return f"welcome {email}"


@workflow.handler()
async def status(ctx: restate.WorkflowSharedContext) -> str:
    return "running"


app = restate.app([greeter, counter, lazy_counter, runner, sleeper, caller, waiter, workflow])
