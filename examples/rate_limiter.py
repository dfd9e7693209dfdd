"""A token-bucket rate limiter: one virtual object per limited resource.

The bucket holds at most ``burst`` tokens and refills at ``rate`` tokens per
second. ``reserve(n)`` takes ``n`` tokens, and when there are not enough it
sleeps durably — a timer kept by rt, not a coroutine — until the bucket has
refilled enough, then takes them and returns how long it waited. Reservations
for one key are exclusive, so they are served one at a time in arrival order
(first come, first served), and a crash of rt mid-wait neither loses the
reservation nor shortens or restarts the wait: the refill is computed from
journaled clock readings.

Run: ``rt dev examples/rate_limiter.py``, then

    curl -s localhost:8080/Limiter/emails/configure -H 'content-type: application/json' \\
        -d '{"rate": 0.5, "burst": 2}'
    curl -s localhost:8080/Limiter/emails/reserve -H 'content-type: application/json' -d 2  # 0.0
    curl -s localhost:8080/Limiter/emails/reserve -H 'content-type: application/json' -d 1  # ~2.0
    curl -s localhost:8080/Limiter/emails/bucket
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel

import sdk as restate
from sdk import ObjectContext, ObjectSharedContext, TerminalError


class Config(BaseModel):
    rate: float
    """Tokens added per second."""
    burst: int
    """Most tokens the bucket holds (and the largest reservation)."""


class Bucket(BaseModel):
    tokens: float
    at: float
    """When ``tokens`` was measured, in seconds since the epoch."""


DEFAULT = Config(rate=1.0, burst=1)

limiter = restate.VirtualObject("Limiter")


@limiter.handler()
async def configure(ctx: ObjectContext, config: Config) -> None:
    if config.rate <= 0 or config.burst < 1:
        raise TerminalError("rate must be positive and burst at least 1", status_code=400)
    ctx.set("config", config)


@limiter.handler()
async def reserve(ctx: ObjectContext, n: int) -> float:
    """Take ``n`` tokens, waiting for them if needed; returns the seconds waited."""
    config = await ctx.get("config", type_hint=Config) or DEFAULT
    if not 1 <= n <= config.burst:
        raise TerminalError(f"can reserve 1 to {config.burst} tokens, not {n}", status_code=400)
    last = await ctx.get("bucket", type_hint=Bucket)
    start = now = await ctx.time()
    while True:
        if last is None:
            tokens = float(config.burst)  # a new bucket starts full
        else:
            tokens = min(config.burst, last.tokens + (now - last.at) * config.rate)
        if tokens >= n - 1e-9:  # float rounding must not cost another timer
            break
        await ctx.sleep(timedelta(seconds=(n - tokens) / config.rate))
        now = await ctx.time()
    ctx.set("bucket", Bucket(tokens=max(tokens - n, 0.0), at=now))
    return round(now - start, 3)


@limiter.handler(kind="shared")
async def bucket(ctx: ObjectSharedContext) -> Bucket | None:
    """The bucket as of the last reservation."""
    return await ctx.get("bucket", type_hint=Bucket)


app = restate.app([limiter])
