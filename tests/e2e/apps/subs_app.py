"""Services fed by Kafka subscriptions in the subscription e2e tests and the intake benchmark."""

from __future__ import annotations

import json
import os
from typing import Any

import redis

import sdk as restate
from sdk import Context, ObjectContext, TerminalError, WorkflowContext

_URL = os.environ.get("RT_TEST_REDIS")
_r = redis.Redis.from_url(_URL) if _URL else None
NS = os.environ.get("RT_TEST_NS", "test")

seq_counter = restate.VirtualObject("SeqCounter")


@seq_counter.handler()
async def add(ctx: ObjectContext, rec: dict[str, Any]) -> int:
    """Counts records per key and checks they arrive in sequence (seq = 1, 2, 3, ...)."""
    count = (await ctx.get("count")) or 0
    last = (await ctx.get("last")) or 0
    if rec["seq"] != last + 1:
        errors = (await ctx.get("errors")) or 0
        ctx.set("errors", errors + 1)
    ctx.set("count", count + 1)
    ctx.set("last", rec["seq"])
    return int(count + 1)


@seq_counter.handler()
async def fail_some(ctx: ObjectContext, rec: dict[str, Any]) -> int:
    """Like ``add``, but a record with ``"fail": true`` fails terminally (goes to the DLQ)."""
    if rec.get("fail"):
        raise TerminalError(f"refusing record {rec['seq']}", status_code=422)
    count = (await ctx.get("count")) or 0
    ctx.set("count", count + 1)
    ctx.set("last", rec["seq"])
    return int(count + 1)


@seq_counter.handler(ingress_private=True)
async def internal(ctx: ObjectContext, rec: dict[str, Any]) -> None:
    """Not reachable from ingress or subscriptions."""


recorder = restate.Service("Recorder")


@recorder.handler()
async def record(ctx: Context, value: Any) -> None:
    """Stores the input and the request headers in Redis (for the header/serde tests)."""
    if _r is not None:
        doc = {"value": value, "headers": dict(ctx.request().headers)}
        _r.rpush(f"{NS}:recorded", json.dumps(doc))


@recorder.handler()
async def raw(ctx: Context, value: bytes) -> None:
    if _r is not None:
        _r.rpush(f"{NS}:raw", value)


signup = restate.Workflow("Signup")


@signup.main()
async def run(ctx: WorkflowContext, rec: dict[str, Any]) -> None:
    """Records each run (a workflow id runs once, whatever the number of records)."""
    if _r is not None:
        _r.rpush(f"{NS}:runs:{ctx.key()}", json.dumps(rec))
