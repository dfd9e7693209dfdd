"""rt's own SDK behind an HTTP endpoint, writing to Kafka with ``sdk.kafka.emit``.

Served by hypercorn (``tests.e2e.apps.rt_sdk_emit:app``); the handler's emit becomes a
send to the ``rt.Kafka`` built-in that every rt node hosts (ADR 0021 §4). The output
topic comes from ``EMIT_TOPIC``.
"""

from __future__ import annotations

import os

import sdk as restate
from sdk.kafka import emit

TOPIC = os.environ.get("EMIT_TOPIC", "orders.out")

orders = restate.Service("Orders")


@orders.handler()
async def place(ctx: restate.Context, order: dict[str, int | str]) -> str:
    receipt = await ctx.run_typed("charge", lambda: f"paid-{order['id']}")
    emit(ctx, TOPIC, {"id": order["id"], "receipt": receipt}, key=str(order["id"]).encode())
    return receipt


app = restate.app([orders])
