"""Services for ``bench/egress.py``: the same request with and without Kafka egress."""

from __future__ import annotations

import os

import sdk as restate
from sdk import Context
from sdk.kafka import emit

TOPIC = os.environ.get("EGRESS_TOPIC", "egress.bench")

svc = restate.Service("EgressBench")


@svc.handler()
async def noop(ctx: Context, req: dict[str, float]) -> int:
    return 0


@svc.handler()
async def emit_n(ctx: Context, req: dict[str, float]) -> int:
    n = int(req["n"])
    for i in range(n):
        emit(ctx, TOPIC, {"t": req["t"], "i": i})
    return n


app = restate.app([svc])
