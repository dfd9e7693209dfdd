"""An rt dev app with one local service; the rest comes by registering an SDK endpoint."""

from __future__ import annotations

import sdk as restate
from sdk import Context

local = restate.Service("Local")


@local.handler()
async def ping(ctx: Context) -> str:
    return "pong"


app = restate.app([local])
