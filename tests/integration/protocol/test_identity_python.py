"""rt signs its requests (Restate's request identity, scheme v1) and a real restate-sdk
1.2.0 endpoint configured with the matching ``identity_keys`` accepts them, refusing
unsigned ones and ones signed by another key, with an error that says what to set."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.protocol import (
    DiscoveryResponseError,
    EndpointResponseError,
    RemoteEndpoint,
    discover,
)
from runtime.protocol.progress import Ended
from sdk.engine import OutputCommand, Value
from sdk.protocol import IdentitySigner
from tests.integration.protocol.conftest import run_attempt, start_of
from tests.integration.protocol.endpoints import EndpointProcess, start_hypercorn

SIGNER = IdentitySigner.generate()


@pytest.fixture(scope="module")
def signed_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EndpointProcess]:
    endpoint = start_hypercorn(
        tmp_path_factory.mktemp("py-signed"),
        "tests.integration.protocol.services_py_signed:app",
        {"RT_TEST_IDENTITY_KEY": SIGNER.key_id},
    )
    yield endpoint
    endpoint.stop()


async def test_discovery_is_signed_and_unsigned_discovery_is_refused_with_a_hint(
    signed_endpoint: EndpointProcess,
) -> None:
    with pytest.raises(DiscoveryResponseError) as unsigned:
        await discover(signed_endpoint.uri)
    assert unsigned.value.status == 401
    assert "RT_REQUEST_IDENTITY_PRIVATE_KEY_PEM_FILE" in str(unsigned.value)
    with pytest.raises(DiscoveryResponseError):
        await discover(signed_endpoint.uri, signer=IdentitySigner.generate())

    found = await discover(signed_endpoint.uri, signer=SIGNER)

    assert [s.name for s in found.manifest.services] == ["Greeter"]


async def test_invocations_are_signed_per_request(signed_endpoint: EndpointProcess) -> None:
    start = start_of("Greeter", "greet", input=b'"Eve"')
    async with RemoteEndpoint(signed_endpoint.uri, protocol_version=7) as unsigned:
        with pytest.raises(EndpointResponseError) as refused:
            await run_attempt(unsigned, start)
    assert refused.value.status == 401
    assert "RT_REQUEST_IDENTITY_PRIVATE_KEY_PEM_FILE" in str(refused.value)

    async with RemoteEndpoint(signed_endpoint.uri, protocol_version=7, signer=SIGNER) as signed:
        # Several attempts over the same connections: each request carries its own token.
        for name in (b'"Eve"', b'"Bob"', b'"Ann"'):
            progress = await run_attempt(signed, start_of("Greeter", "greet", input=name))
            expected = b'"Hello ' + name.strip(b'"') + b'"'
            assert progress[-1] == Ended(OutputCommand(result=Value(expected)))


def test_the_settings_load_the_key_file_and_refuse_a_bad_one(tmp_path: Path) -> None:
    from runtime.settings import Settings

    good = tmp_path / "id.pem"
    good.write_bytes(SIGNER.private_pem())
    signer = Settings(request_identity_private_key_pem_file=good).request_signer()
    assert signer is not None and signer.key_id == SIGNER.key_id
    assert Settings().request_signer() is None

    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    with pytest.raises(ValueError, match="not a PKCS#8 PEM Ed25519 private key"):
        Settings(request_identity_private_key_pem_file=bad)
    with pytest.raises(ValueError, match="cannot read the request identity key"):
        Settings(request_identity_private_key_pem_file=tmp_path / "missing.pem")
