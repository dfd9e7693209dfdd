"""The registry view carries handler-level option overrides from the SDK definitions."""

from __future__ import annotations

from datetime import timedelta

import sdk as restate
from runtime.invoker.services import registry_from_sdk
from sdk import Context

svc = restate.Service("Ret", idempotency_retention=timedelta(hours=2))


@svc.handler(idempotency_retention=timedelta(seconds=5), journal_retention=timedelta(0))
async def short(ctx: Context) -> None:
    return None


@svc.handler()
async def plain(ctx: Context) -> None:
    return None


def test_handler_retention_overrides_are_carried() -> None:
    info = registry_from_sdk([svc]).get("Ret")
    assert info is not None
    assert info.idempotency_retention_s == 7200
    assert info.handlers["short"].idempotency_retention_s == 5
    assert info.handlers["short"].journal_retention_s == 0
    assert info.handlers["plain"].idempotency_retention_s is None
    assert info.handlers["plain"].journal_retention_s is None
