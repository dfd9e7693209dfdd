"""Friendly durations, state versions and handler descriptions."""

from __future__ import annotations

import base64
import hashlib

import pytest

from runtime.admin.metadata import friendly_duration, handler_metadata, state_version
from runtime.registry import (
    HandlerInfo,
    HandlerKind,
    OnMaxAttempts,
    Options,
    RetryOptions,
    ServiceInfo,
    ServiceType,
)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, None),
        (0, "0s"),
        (0.25, "250ms"),
        (59, "59s"),
        (60, "1m"),
        (3600, "1h"),
        (24 * 3600, "1day"),
        (2 * 24 * 3600 + 3 * 3600 + 4 * 60 + 5, "2days 3h 4m 5s"),
        (90.5, "1m 30s 500ms"),
    ],
)
def test_friendly_duration(seconds: float | None, text: str | None) -> None:
    assert friendly_duration(seconds) == text


def test_friendly_duration_rejects_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        friendly_duration(-1)


def _restate_version(entries: list[tuple[bytes, bytes]]) -> str:
    """Restate's ``StateMutationVersion::from_user_state``, written out independently."""
    h = hashlib.sha256()
    for i, (k, v) in enumerate(sorted(entries)):
        h.update(i.to_bytes(8, "big") + b"\x01" + k + b"\x02" + v + b"\x03")
    return base64.urlsafe_b64encode(h.digest()).decode().rstrip("=")


def test_state_version_matches_restates_hash() -> None:
    # Never change: the CLI and scripts send this back as the expected version.
    assert state_version({}) == "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
    state = {"b": b"2", "a": b"1", "é": b"\xff"}
    assert state_version(state) == _restate_version([(k.encode(), v) for k, v in state.items()])
    assert "=" not in state_version(state)


def test_state_version_ignores_insertion_order_but_not_content() -> None:
    assert state_version({"a": b"1", "b": b"2"}) == state_version({"b": b"2", "a": b"1"})
    assert state_version({"a": b"1"}) != state_version({"a": b"2"})
    assert state_version({"a": b"1"}) != state_version({"a": b"1", "b": b""})


def test_explicit_descriptions_win() -> None:
    h = HandlerInfo(
        "h",
        HandlerKind.SHARED,
        input_description="a thing",
        output_description="another",
        input_json_schema={"title": "T"},
    )
    meta = handler_metadata(h)
    assert (meta.input_description, meta.output_description) == ("a thing", "another")
    assert meta.ty is HandlerKind.SHARED


def test_a_handlers_own_options_win_over_its_services() -> None:
    own = Options(
        journal_retention_ms=60_000,
        inactivity_timeout_ms=0,
        retry_policy=RetryOptions(max_attempts=3, on_max_attempts=OnMaxAttempts.KILL),
    )
    h = HandlerInfo("h", HandlerKind.EXCLUSIVE, lazy_state=True, options=own)
    other = HandlerInfo("other", HandlerKind.SHARED)
    svc = ServiceInfo(
        "Obj",
        ServiceType.VIRTUAL_OBJECT,
        {"h": h, "other": other},
        options=Options(journal_retention_ms=3_600_000, abort_timeout_ms=5_000),
    )
    meta = handler_metadata(h, service=svc)
    assert (meta.journal_retention, meta.idempotency_retention) == ("1m", "1day")
    assert (meta.inactivity_timeout, meta.abort_timeout) == ("0s", "5s")
    assert meta.enable_lazy_state is True
    assert meta.retry_policy is not None
    assert (meta.retry_policy.max_attempts, meta.retry_policy.on_max_attempts) == (3, "kill")
    assert meta.retry_policy.initial_interval == "500ms"  # the runtime default under it
    plain = handler_metadata(other, service=svc)
    assert (plain.journal_retention, plain.inactivity_timeout) == ("1h", "10s")
    assert plain.retry_policy is not None and plain.retry_policy.max_attempts == 70
    assert handler_metadata(h).retry_policy is None  # without its service: not resolved
