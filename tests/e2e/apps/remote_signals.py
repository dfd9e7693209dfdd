"""Named signals written with the real Restate Python SDK (restate-sdk from PyPI), registered
with rt by URL in tests/e2e/test_remote_signals.py.

Served by hypercorn over h2c: ``python -m hypercorn tests.e2e.apps.remote_signals:app``.
"""

from __future__ import annotations

from datetime import timedelta

import restate
from restate import Context, ObjectContext
from restate.exceptions import TerminalError

signals = restate.Service("RemoteSignals")


@signals.handler()
async def wait(ctx: Context, delay_ms: int) -> str:
    """Asks for two ``go`` signals, after ``delay_ms`` (signals may arrive before)."""
    if delay_ms:
        await ctx.sleep(timedelta(milliseconds=delay_ms))
    first = await ctx.signal("go", type_hint=str)
    try:
        second = await ctx.signal("go", type_hint=str)
    except TerminalError as e:
        second = f"rejected:{e.status_code}:{e.message}"
    return f"{first}+{second}"


@signals.handler()
async def resolve(ctx: Context, args: list[str]) -> str:
    """``[invocation_id, name, value]``."""
    ctx.resolve_signal(args[0], args[1], args[2])
    return "ok"


sender = restate.VirtualObject("RemoteSignalSender")


@sender.handler()
async def reject(ctx: ObjectContext, args: list[str]) -> str:
    """``[invocation_id, name, message]``: rejects with 403."""
    ctx.reject_signal(args[0], args[1], args[2], 403)
    return "ok"


app = restate.app([signals, sender])
