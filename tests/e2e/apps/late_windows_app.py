"""Event-time windows for the late-record e2e test (output topic from ``WINDOW_TOPIC``)."""

from __future__ import annotations

import os
from datetime import timedelta

import msgspec

import sdk as restate
from sdk import ObjectContext
from sdk.kafka import emit
from sdk.pipelines import Window, Windows

TOPIC = os.environ.get("WINDOW_TOPIC", "windows.out")
WINDOWS = Windows(size=timedelta(seconds=float(os.environ.get("WINDOW_SECONDS", "2"))))


class Reading(msgspec.Struct):
    id: str
    amount: float
    at_ms: int


class Acc(msgspec.Struct):
    ids: list[str]
    total: float


def _fold(acc: Acc | None, r: Reading) -> Acc:
    acc = acc or Acc([], 0.0)
    return Acc([*acc.ids, r.id], acc.total + r.amount)


events = restate.VirtualObject("EventTotals")


@events.handler()
async def add(ctx: ObjectContext, r: Reading) -> list[int]:
    """One reading stamped with its own (event) time; returns the window starts it went to."""
    added = await WINDOWS.add(ctx, r, reduce=_fold, on_close=close, at_ms=r.at_ms, type_hint=Acc)
    return [w.start_ms for w in added]


@events.handler()
async def close(ctx: ObjectContext, window: Window) -> None:
    acc = await WINDOWS.close(ctx, window, type_hint=Acc)
    if acc is not None:
        emit(ctx, TOPIC, {"key": ctx.key(), "start_ms": window.start_ms, "ids": acc.ids,
                          "total": acc.total}, key=ctx.key())  # fmt: skip


app = restate.app([events])
