"""Discovery: ``GET {uri}/discover`` on an SDK endpoint, returning its manifest as data.

Owns the discovery request (HTTP/2 with prior knowledge, or HTTP/1.1 when the
endpoint is registered that way), content negotiation of the manifest version, and
the mapping of every failure to a :class:`~runtime.protocol.errors.DiscoveryError`
that names its cause. It registers nothing: the caller turns the manifest into rt's
registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from runtime.protocol.manifest import EndpointManifest, ProtocolMode, parse_manifest
from sdk.protocol import (
    MAX_MANIFEST_VERSION,
    MIN_MANIFEST_VERSION,
    BadEndpointUriError,
    BadManifestError,
    DiscoveryResponseError,
    EndpointUnreachableError,
    IdentitySigner,
    manifest_accept_header,
    parse_manifest_content_type,
)

_MAX_BODY_IN_ERRORS = 500

UNSIGNED_HINT = (
    ": the endpoint accepts only requests signed by a key it knows; give rt the private"
    " key of one of its identity keys (RT_REQUEST_IDENTITY_PRIVATE_KEY_PEM_FILE)"
)


@dataclass(frozen=True)
class DiscoveredEndpoint:
    """An endpoint and what it declared.

    Attributes:
        uri: the endpoint URI, normalised without a trailing slash.
        use_http_11: discovered (and to be invoked) over HTTP/1.1.
        manifest: the validated manifest.
        server: the SDK's ``x-restate-server`` header, e.g. ``restate-sdk-python/1.2.0``.
    """

    uri: str
    use_http_11: bool
    manifest: EndpointManifest
    server: str | None

    @property
    def protocol_mode(self) -> ProtocolMode:
        """How to invoke it: as declared, else what the HTTP version allows."""
        if self.manifest.protocol_mode is not None:
            return self.manifest.protocol_mode
        return ProtocolMode.REQUEST_RESPONSE if self.use_http_11 else ProtocolMode.BIDI_STREAM


def normalize_uri(uri: str) -> str:
    """``uri`` without a trailing slash, checked to be an absolute ``http://`` URI.

    Raises:
        BadEndpointUriError: anything else (https and other schemes are not supported
            yet, a URI needs a host, and a query or fragment has no meaning here).
    """
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError as e:
        raise BadEndpointUriError(f"bad endpoint URI {uri!r}: {e}") from None
    if parts.scheme != "http":
        raise BadEndpointUriError(
            f"bad endpoint URI {uri!r}: rt invokes endpoints over http:// (cleartext) only"
        )
    if not parts.hostname:
        raise BadEndpointUriError(f"bad endpoint URI {uri!r}: no host")
    if parts.query or parts.fragment:
        raise BadEndpointUriError(f"bad endpoint URI {uri!r}: no query or fragment allowed")
    if port == 0:
        raise BadEndpointUriError(f"bad endpoint URI {uri!r}: port 0")
    return uri.rstrip("/")


async def discover(
    uri: str,
    *,
    use_http_11: bool = False,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
    signer: IdentitySigner | None = None,
) -> DiscoveredEndpoint:
    """Ask an endpoint what it serves.

    Args:
        uri: the endpoint, e.g. ``http://127.0.0.1:9080`` (a path prefix is kept).
        use_http_11: discover over HTTP/1.1 (request/response endpoints such as
            uvicorn-served apps); HTTP/2 cleartext with prior knowledge otherwise.
        headers: extra headers sent to the endpoint (e.g. an API gateway's key).
        timeout: seconds for connecting and for the whole answer.
        signer: signs the request with rt's request identity (Restate's scheme v1).

    Returns:
        The endpoint and its validated manifest.

    Raises:
        BadEndpointUriError: the URI is not an absolute http:// URI.
        EndpointUnreachableError: no connection or no answer in time.
        DiscoveryResponseError: an HTTP error status.
        BadManifestError: not a JSON endpoint manifest, or an invalid one.
        UnsupportedProtocolVersionError: no service protocol version in common.
    """
    base = normalize_uri(uri)
    request_headers = {"accept": manifest_accept_header(), **(headers or {})}
    if signer is not None:
        request_headers.update(signer.headers("/discover"))
    async with httpx.AsyncClient(
        http1=use_http_11, http2=not use_http_11, timeout=httpx.Timeout(timeout)
    ) as client:
        try:
            response = await client.get(f"{base}/discover", headers=request_headers)
        except httpx.TimeoutException as e:
            raise EndpointUnreachableError(
                f"endpoint {base} did not answer discovery within {timeout:g} s ({e!r})"
            ) from None
        except httpx.RemoteProtocolError as e:
            hint = "" if use_http_11 else " (does it speak only HTTP/1.1? then register it so)"
            raise EndpointUnreachableError(
                f"endpoint {base} broke the HTTP exchange{hint}: {e}"
            ) from None
        except httpx.TransportError as e:
            raise EndpointUnreachableError(f"cannot reach endpoint {base}: {e}") from None
    return _read_response(base, use_http_11, response)


def _read_response(base: str, use_http_11: bool, response: httpx.Response) -> DiscoveredEndpoint:
    body = response.content
    if response.status_code != 200:
        text = body[:_MAX_BODY_IN_ERRORS].decode("utf-8", "replace")
        hint = {
            404: ": is the URI the path where the SDK endpoint is mounted?",
            401: UNSIGNED_HINT,
        }.get(response.status_code, "")
        raise DiscoveryResponseError(
            f"endpoint {base} answered discovery with HTTP {response.status_code}{hint} {text!r}",
            status=response.status_code,
            body=text,
        )
    content_type = response.headers.get("content-type", "")
    version = parse_manifest_content_type(content_type)
    if version is None:
        raise BadManifestError(
            f"endpoint {base} answered discovery with content-type {content_type!r}, "
            "not an endpoint manifest: is it a Restate SDK endpoint?"
        )
    if not MIN_MANIFEST_VERSION <= version <= MAX_MANIFEST_VERSION:
        raise BadManifestError(
            f"endpoint {base} answered with manifest version {version}, which rt did not ask for"
        )
    manifest = parse_manifest(body, manifest_version=version)
    if use_http_11 and manifest.protocol_mode is ProtocolMode.BIDI_STREAM:
        raise BadManifestError(
            f"endpoint {base} declares bidirectional streaming, which HTTP/1.1 cannot carry: "
            "serve it over HTTP/2 or in request/response mode"
        )
    return DiscoveredEndpoint(
        uri=base,
        use_http_11=use_http_11,
        manifest=manifest,
        server=response.headers.get("x-restate-server"),
    )
