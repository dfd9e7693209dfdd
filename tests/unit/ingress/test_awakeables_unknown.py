"""An awakeable whose invocation is unknown is a 404 (rt checks; Restate answers 202)."""

from __future__ import annotations

import httpx
import pytest

from runtime.ingress.backend import UnknownAwakeable
from sdk._ids import awakeable_id

from .conftest import FIXED_ID, RecordingBackend, assert_ingress_error

AWAKEABLE = awakeable_id(FIXED_ID, 3)


@pytest.mark.parametrize("action", ["resolve", "reject"])
async def test_unknown_awakeable_is_404(
    client: httpx.AsyncClient, backend: RecordingBackend, action: str
) -> None:
    backend.error = UnknownAwakeable(AWAKEABLE)
    response = await client.post(f"/restate/awakeables/{AWAKEABLE}/{action}", content=b'"v"')
    assert_ingress_error(response, 404, "invocation not found")
