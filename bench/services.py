"""The benchmark services, one file for both systems: rt's SDK, or restate-sdk without it.

rt's ``sdk`` mirrors restate-sdk's public API, so the same definitions run on both:
``rt dev bench/services.py`` serves them on rt; ``bench/restate.sh start`` serves them
with restate-sdk 1.2.0 under hypercorn (its venv has no ``sdk``), registered with the
real Restate. See bench/README.md.

- Greeter.greet(name) -> "Hello name"         pure handler, no journal entries
- Counter/{key}/add(n) -> new count           exclusive virtual-object handler (get + set state)
- Counter/{key}/get() -> count                shared handler
- Steps/{id}/run(n) -> n + 6                  workflow with three ctx.run steps
- Sleeper.sleep(ms) -> ms                     durable timer
"""

from datetime import timedelta

try:
    import sdk as restate
    from sdk import Context, ObjectContext, ObjectSharedContext, TerminalError, WorkflowContext
except ModuleNotFoundError as missing:  # the comparison system's SDK
    if missing.name != "sdk":
        raise
    import restate  # type: ignore[no-redef]
    from restate import (  # type: ignore[no-redef]
        Context,
        ObjectContext,
        ObjectSharedContext,
        TerminalError,
        WorkflowContext,
    )

# --- Service: Greeter.greet(name) -> "Hello name" (pure, no journal entries) ---
greeter = restate.Service("Greeter")


@greeter.handler()
async def greet(ctx: Context, name: str) -> str:
    return f"Hello {name}"


# Used only to observe how a TerminalError surfaces at the ingress.
@greeter.handler()
async def fail(ctx: Context, msg: str) -> str:
    raise TerminalError(f"bad input: {msg}", status_code=422)


# Used only to observe retries: a plain (non-terminal) exception on the first attempt of each
# invocation; the runtime retries it and the caller gets 200.
_attempts: dict = {}


@greeter.handler()
async def flaky(ctx: Context, name: str) -> str:
    inv = ctx.request().id
    _attempts[inv] = _attempts.get(inv, 0) + 1
    if _attempts[inv] == 1:
        raise RuntimeError("transient failure on first attempt")
    return f"Hello {name} after {_attempts.pop(inv)} attempts"


# --- Virtual object: Counter (keyed, single-writer state) ---
counter = restate.VirtualObject("Counter")


@counter.handler()  # exclusive (default)
async def add(ctx: ObjectContext, n: int) -> int:
    count = (await ctx.get("count")) or 0
    count += n
    ctx.set("count", count)
    return count


@counter.handler(kind="shared")
async def get(ctx: ObjectSharedContext) -> int:
    return (await ctx.get("count")) or 0


# --- Workflow: Steps.run(n) with three ctx.run steps ---
steps = restate.Workflow("Steps")


def _step(i: int, n: int) -> int:
    return i + n


@steps.main()
async def run(ctx: WorkflowContext, n: int) -> int:
    a = await ctx.run_typed("step1", _step, restate.RunOptions(), 1, n)
    b = await ctx.run_typed("step2", _step, restate.RunOptions(), 2, a)
    c = await ctx.run_typed("step3", _step, restate.RunOptions(), 3, b)
    return c


# --- Service: Sleeper.sleep(ms) -> durable timer ---
sleeper = restate.Service("Sleeper")


@sleeper.handler()
async def sleep(ctx: Context, ms: int) -> int:
    await ctx.sleep(timedelta(milliseconds=ms))
    return ms


app = restate.app(services=[greeter, counter, steps, sleeper])
