"""Services with retention options: handler-level overrides, a zero journal retention, and
none at all (the runtime's `default_journal_retention_s` applies)."""

from __future__ import annotations

import os
from datetime import timedelta

import redis

import sdk as restate
from sdk import Context

_r = redis.Redis.from_url(os.environ["RT_TEST_REDIS"])
NS = os.environ.get("RT_TEST_NS", "test")

ticker = restate.Service("Ticker", idempotency_retention=timedelta(hours=1))


@ticker.handler(idempotency_retention=timedelta(seconds=1))
async def short(ctx: Context) -> int:
    """Counts executions outside the journal: a re-execution after retention shows."""
    return int(_r.incr(f"{NS}:short"))


@ticker.handler()
async def long(ctx: Context) -> int:
    return int(_r.incr(f"{NS}:long"))


brief = restate.Service("Brief", journal_retention=timedelta(0))


@brief.handler()
async def echo(ctx: Context, x: str) -> str:
    return x


plain = restate.Service("Plain")  # no retention option: the runtime's default applies


@plain.handler(name="echo")
async def plain_echo(ctx: Context, x: str) -> str:
    return x
