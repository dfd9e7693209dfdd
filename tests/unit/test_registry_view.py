"""The registry view carries handler-level option overrides from the SDK definitions."""

from __future__ import annotations

from datetime import timedelta

import sdk as restate
from runtime.invoker.services import registry_from_sdk
from runtime.log.records import TargetKind
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
    service = TargetKind.SERVICE
    assert info.idempotency_retention_ms == 7_200_000
    assert info.retention_ms("short", service, idempotent=True) == 5_000
    assert info.retention_ms("short", service, idempotent=False) == 0
    assert info.retention_ms("plain", service, idempotent=True) == 7_200_000
    assert info.retention_ms("plain", service, idempotent=False) == info.journal_retention_ms
