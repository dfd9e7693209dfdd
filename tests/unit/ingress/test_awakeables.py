"""Resolving and rejecting awakeables over HTTP."""

from __future__ import annotations

import httpx
import pytest

from sdk._ids import awakeable_id

from .conftest import FIXED_ID, RecordingBackend

AWAKEABLE = awakeable_id(FIXED_ID, 7)


@pytest.mark.parametrize("prefix", ["/restate/awakeables", "/restate/a"])
async def test_resolve(client: httpx.AsyncClient, backend: RecordingBackend, prefix: str) -> None:
    response = await client.post(
        f"{prefix}/{AWAKEABLE}/resolve",
        content=b'"Looks good!"',
        headers={"content-type": "text/whatever"},  # irrelevant to the runtime
    )
    assert response.status_code == 202
    assert response.content == b""
    assert backend.resolved == [(AWAKEABLE, b'"Looks good!"')]


@pytest.mark.parametrize("prefix", ["/restate/awakeables", "/restate/a"])
async def test_reject(client: httpx.AsyncClient, backend: RecordingBackend, prefix: str) -> None:
    response = await client.post(
        f"{prefix}/{AWAKEABLE}/reject",
        content="not approved ✗".encode(),
        headers={"content-type": "text/plain"},
    )
    assert response.status_code == 202
    assert response.content == b""
    assert backend.rejected == [(AWAKEABLE, "not approved ✗")]


async def test_reject_with_invalid_utf8(
    client: httpx.AsyncClient, backend: RecordingBackend
) -> None:
    await client.post(f"/restate/a/{AWAKEABLE}/reject", content=b"bad \xff byte")
    assert backend.rejected == [(AWAKEABLE, "bad \ufffd byte")]


async def test_resolve_with_empty_body(
    client: httpx.AsyncClient, backend: RecordingBackend
) -> None:
    response = await client.post(f"/restate/a/{AWAKEABLE}/resolve")
    assert response.status_code == 202
    assert backend.resolved == [(AWAKEABLE, b"")]


@pytest.mark.parametrize(
    "bad_id",
    ["prom_nope", "sign_1abc", FIXED_ID, f"{AWAKEABLE[:-1]}!", "x"],
)
@pytest.mark.parametrize("action", ["resolve", "reject"])
async def test_bad_awakeable_id(
    client: httpx.AsyncClient, backend: RecordingBackend, bad_id: str, action: str
) -> None:
    response = await client.post(f"/restate/awakeables/{bad_id}/{action}", content=b"1")
    assert response.status_code == 400
    message = response.json()["message"]
    assert message.startswith(f"bad awakeable id '{bad_id}': ")
    assert len(message) > len(f"bad awakeable id '{bad_id}': ")
    assert response.headers["x-restate-error-source"] == "ingress"
    assert not backend.resolved and not backend.rejected
