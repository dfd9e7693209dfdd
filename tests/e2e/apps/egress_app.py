"""Services for the Kafka egress e2e tests (the output topic comes from ``EGRESS_TOPIC``)."""

from __future__ import annotations

import os

import sdk as restate
from sdk import Context
from sdk.kafka import emit

TOPIC = os.environ.get("EGRESS_TOPIC", "egress.out")

emitter = restate.Service("Emitter")


@emitter.handler()
async def burst(ctx: Context, n: int) -> int:
    """``n`` records in one journal append."""
    inv = ctx.request().id
    for i in range(n):
        emit(ctx, TOPIC, {"inv": inv, "i": i}, key=inv, headers={"seq": str(i)})
    return n


@emitter.handler()
async def steps(ctx: Context, tag: str) -> str:
    """Egress interleaved with journaled steps: emit, run, emit, run, emit."""
    inv = ctx.request().id
    for i in range(3):
        if i:
            await ctx.run_typed(f"step{i}", lambda i=i: i)
        emit(ctx, TOPIC, {"inv": inv, "tag": tag, "i": i}, key=tag)
    return tag


@emitter.handler()
async def to_topic(ctx: Context, topic: str) -> str:
    """Emit to a caller-chosen topic (the unknown-topic test)."""
    emit(ctx, topic, "x")
    return "sent"


app = restate.app([emitter])
