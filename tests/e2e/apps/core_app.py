"""Services used by the durable-core e2e tests.

Side effects are counted in Redis *outside* the journal (``RT_TEST_REDIS`` and
``RT_TEST_NS`` come from the test), so a test can tell whether a journaled
``ctx.run`` was executed again after a crash.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import timedelta

import redis

import sdk as restate
from sdk import Context, ObjectContext, ObjectSharedContext, TerminalError

_URL = os.environ.get("RT_TEST_REDIS")
_r = redis.Redis.from_url(_URL) if _URL else None
NS = os.environ.get("RT_TEST_NS", "test")

greeter = restate.Service("Greeter")


@greeter.handler()
async def greet(ctx: Context, name: str) -> str:
    return f"Hello {name}"


@greeter.handler()
async def fail(ctx: Context, msg: str) -> str:
    raise TerminalError(f"bad input: {msg}", status_code=422)


@greeter.handler()
async def env(ctx: Context, name: str) -> str:
    return os.environ.get(name, "")


counter = restate.VirtualObject("Counter")


@counter.handler()
async def add(ctx: ObjectContext, n: int) -> int:
    enter = time.time()
    count = (await ctx.get("count")) or 0
    count += n
    ctx.set("count", count)
    if _r is not None:
        _r.rpush(f"{NS}:spans:{ctx.key()}", f"{enter}:{time.time()}")
    return int(count)


@counter.handler()
async def slow_add(ctx: ObjectContext, n: int) -> int:
    """Holds the key's lock while it waits (a sleep inside a journaled run)."""
    await ctx.run_typed("wait", asyncio.sleep, restate.RunOptions(), n / 1000)
    count = (await ctx.get("count")) or 0
    ctx.set("count", count + 1)
    return int(count + 1)


@counter.handler(kind="shared")
async def get(ctx: ObjectSharedContext) -> int:
    return int((await ctx.get("count")) or 0)


def _effect(tag: str) -> str:
    if _r is not None:
        _r.incr(f"{NS}:effects:{tag}")
    return tag


steps = restate.VirtualObject("Steps")


@steps.handler()
async def run(ctx: ObjectContext, n: int) -> int:
    """Three journaled side effects, each counted; sleeps between them widen the crash window."""
    total = 0
    for i in range(3):
        tag = f"{ctx.key()}-{i}"
        await ctx.run_typed(f"step{i}", _effect, restate.RunOptions(), tag)
        await ctx.run_typed(f"pause{i}", asyncio.sleep, restate.RunOptions(), 0.05)
        total += i
    ctx.set("done", True)
    return total + n


caller = restate.Service("Caller")


@caller.handler()
async def call_add(ctx: Context, key: str) -> int:
    return await ctx.object_call(add, key, 1)


@caller.handler()
async def send_add(ctx: Context, key: str) -> str:
    handle = ctx.object_send(add, key, 1)
    return await handle.invocation_id()


@caller.handler()
async def call_nap_once(ctx: Context, key: str) -> int:
    """Calls ``Sleepy.nap`` with an idempotency key: callers with the same key share one
    invocation (the same id) and must all get its result."""
    return await ctx.service_call(nap, 3000, idempotency_key=key)


flaky = restate.Service("Flaky")


@flaky.handler()
async def once(ctx: Context, name: str) -> str:
    assert _r is not None, "Flaky needs RT_TEST_REDIS"
    attempts = _r.incr(f"{NS}:flaky:{ctx.request().id}")
    if attempts == 1:
        raise RuntimeError("transient failure on first attempt")
    return f"ok {name} after {attempts}"


sleepy = restate.Service("Sleepy")


@sleepy.handler()
async def nap(ctx: Context, ms: int) -> int:
    await ctx.sleep(timedelta(milliseconds=ms))
    return ms


@flaky.handler(
    invocation_retry_policy=restate.InvocationRetryPolicy(
        initial_interval=timedelta(milliseconds=100), max_interval=timedelta(milliseconds=500)
    )
)
async def drift(ctx: Context, name: str) -> str:
    """Code that changes between attempts: which run it journals depends on a Redis flag."""
    assert _r is not None, "drift needs RT_TEST_REDIS"
    mode = (_r.get(f"{NS}:drift:mode") or b"a").decode()
    await ctx.run_typed(f"step-{mode}", _effect, restate.RunOptions(), f"drift-{mode}")
    if _r.get(f"{NS}:drift:hold"):
        raise RuntimeError("held: forcing a retry")
    return mode


lazy = restate.VirtualObject("LazyCounter", enable_lazy_state=True)


@lazy.handler()
async def bump(ctx: ObjectContext, n: int) -> list[str]:
    """State read key by key from the runtime (enable_lazy_state)."""
    count = (await ctx.get("count")) or 0
    ctx.set("count", count + n)
    ctx.set(f"seen-{n}", True)
    return await ctx.state_keys()


@lazy.handler(kind="shared")
async def peek(ctx: ObjectSharedContext) -> int:
    return int((await ctx.get("count")) or 0)


replayer = restate.Service("Replayer", inactivity_timeout=timedelta(0))


@replayer.handler()
async def chain(ctx: Context, key: str) -> list[int]:
    """Always-replay: suspended and replayed from the journal at every await."""
    a = await ctx.run_typed("one", _effect, restate.RunOptions(), f"replay-{key}")
    await ctx.sleep(timedelta(milliseconds=50))
    b = await ctx.object_call(add, key, 10)
    c = await ctx.object_call(add, key, 5)
    return [len(a), b, c]


slowpoke = restate.Service(
    "Slowpoke",
    inactivity_timeout=timedelta(milliseconds=200),
    abort_timeout=timedelta(milliseconds=500),
)


@slowpoke.handler()
async def once_slow(ctx: Context, name: str) -> int:
    """The first attempt hangs in a run longer than inactivity + abort timeout."""
    assert _r is not None, "once_slow needs RT_TEST_REDIS"
    n = int(_r.incr(f"{NS}:slow:{ctx.request().id}"))
    await ctx.run_typed("wait", asyncio.sleep, restate.RunOptions(), 5.0 if n == 1 else 0.0)
    return n


ledger = restate.VirtualObject("Ledger")


@ledger.handler()
async def book(ctx: ObjectContext, n: int) -> int:
    """Queued calls on one key (the speculative hand-off's case): one journaled effect
    counted per invocation, then the key's count goes up by one."""
    await ctx.run_typed("effect", _effect, restate.RunOptions(), f"ledger-{ctx.request().id}")
    await ctx.run_typed("pause", asyncio.sleep, restate.RunOptions(), 0.02)
    count = int((await ctx.get("count")) or 0) + 1
    ctx.set("count", count)
    return count


race = restate.Service("RunRace")


async def _slow_effect(key: str, seconds: float) -> str:
    assert _r is not None, "RunRace needs RT_TEST_REDIS"
    _r.incr(f"{NS}:race:{key}")
    await asyncio.sleep(seconds)
    return "slow"


@race.handler()
async def run_while_call_completes(ctx: Context, key: str) -> list[str]:
    """A ctx.run still running when the result of a call is journaled: the log holds the
    call's result before the run's, while the handler saw the run's first."""
    call = ctx.service_call(greet, key)
    await ctx.run_typed("mark", _effect, restate.RunOptions(), f"race-mark-{key}")
    slow = await ctx.run_typed("slow", _slow_effect, restate.RunOptions(), key, 1.0)
    await ctx.sleep(timedelta(milliseconds=10))  # a fresh attempt replays the journal
    return [slow, await call]


app = restate.app(
    [greeter, counter, steps, caller, flaky, sleepy, lazy, replayer, slowpoke, race, ledger]
)
