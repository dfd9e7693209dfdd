"""A deployment as a record of the registry topic: key ``deployment/<id>``, value JSON.

NEVER CHANGE the key prefix or a field name: every node rebuilds its deployments from
these records at start-up, possibly a newer rt from records an older one wrote (add
optional fields only). The value keeps the endpoint manifest in Restate's JSON shape;
the services are rebuilt from it (:func:`runtime.invoker.services.services_from_manifest`,
the one path from a manifest to the service model), each with the revision the
registration gave it.

Owns the encoding and the deployment id format (``dp_`` + 26 base62 characters).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import replace
from typing import Any

import msgspec

from runtime.invoker.services import services_from_manifest
from runtime.registry import Defaults, Deployment, HttpEndpoint, InProcessEndpoint

KEY_PREFIX = "deployment/"
"""Key prefix of deployment records in ``<prefix>.registry`` (never change)."""

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
ID_CHARS = 26


def new_deployment_id() -> str:
    """``dp_`` + 26 random base62 characters."""
    return "dp_" + "".join(secrets.choice(_ALPHABET) for _ in range(ID_CHARS))


def content_deployment_id(content: str) -> str:
    """The id of the in-process deployment of code whose content hash is ``content``:
    derived, so that every node starting the same app names the same deployment."""
    n = int.from_bytes(hashlib.sha256(b"rt-deployment\0" + content.encode()).digest(), "big")
    chars = []
    for _ in range(ID_CHARS):
        n, r = divmod(n, len(_ALPHABET))
        chars.append(_ALPHABET[r])
    return "dp_" + "".join(chars)


def valid_deployment_id(text: str) -> bool:
    """Whether ``text`` has the shape of a deployment id."""
    body = text.removeprefix("dp_")
    return text.startswith("dp_") and len(body) == ID_CHARS and set(body) <= set(_ALPHABET)


class _Http(msgspec.Struct, omit_defaults=True):
    uri: str
    protocol_version: int
    bidi: bool = True
    use_http_11: bool = False
    additional_headers: dict[str, str] = {}
    min_protocol_version: int = 0
    max_protocol_version: int = 0
    sdk_version: str | None = None


class _InProcess(msgspec.Struct, omit_defaults=True):
    content: str
    source: str = ""


class _Endpoint(msgspec.Struct, omit_defaults=True):
    http: _Http | None = None
    in_process: _InProcess | None = None


class _Record(msgspec.Struct, omit_defaults=True):
    id: str
    endpoint: _Endpoint
    manifest: dict[str, Any]
    revisions: dict[str, int]
    created_at_ms: int = 0


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(_Record)


def record_key(deployment_id: str) -> bytes:
    """The registry-topic key of a deployment."""
    return (KEY_PREFIX + deployment_id).encode()


def encode(d: Deployment) -> bytes:
    """The record value of ``d``."""
    endpoint = d.endpoint
    if isinstance(endpoint, HttpEndpoint):
        ep = _Endpoint(
            http=_Http(
                uri=endpoint.uri,
                protocol_version=endpoint.protocol_version,
                bidi=endpoint.bidi,
                use_http_11=endpoint.use_http_11,
                additional_headers=dict(endpoint.additional_headers),
                min_protocol_version=endpoint.min_protocol_version,
                max_protocol_version=endpoint.max_protocol_version,
                sdk_version=endpoint.sdk_version,
            )
        )
    else:
        ep = _Endpoint(in_process=_InProcess(endpoint.content, endpoint.source))
    rec = _Record(
        id=d.id,
        endpoint=ep,
        manifest=dict(d.manifest),
        revisions={s.name: s.revision for s in d.services},
        created_at_ms=d.created_at_ms,
    )
    return _encoder.encode(rec)


def decode(value: bytes, defaults: Defaults) -> Deployment:
    """The deployment a record value describes, its services resolved against ``defaults``.

    Raises:
        ValueError: not a deployment record (``ManifestError`` for a bad manifest).
    """
    try:
        rec = _decoder.decode(value)
    except msgspec.DecodeError as e:
        raise ValueError(f"not a deployment record: {e}") from None
    return build(
        rec.id,
        _endpoint(rec.endpoint),
        rec.manifest,
        rec.revisions,
        defaults,
        created_at_ms=rec.created_at_ms,
    )


def build(
    deployment_id: str,
    endpoint: HttpEndpoint | InProcessEndpoint,
    manifest: dict[str, Any],
    revisions: dict[str, int],
    defaults: Defaults,
    *,
    created_at_ms: int,
) -> Deployment:
    """A deployment of the services ``manifest`` declares, at the given revisions.

    Raises:
        ManifestError: ``manifest`` does not describe services (nothing is built).
    """
    services = tuple(
        replace(s, revision=revisions.get(s.name, 1), deployment_id=deployment_id)
        for s in services_from_manifest(manifest, defaults)
    )
    return Deployment(deployment_id, endpoint, services, created_at_ms, manifest)


def _endpoint(ep: _Endpoint) -> HttpEndpoint | InProcessEndpoint:
    if ep.http is not None:
        h = ep.http
        return HttpEndpoint(
            uri=h.uri,
            protocol_version=h.protocol_version,
            bidi=h.bidi,
            use_http_11=h.use_http_11,
            additional_headers=dict(h.additional_headers),
            min_protocol_version=h.min_protocol_version,
            max_protocol_version=h.max_protocol_version,
            sdk_version=h.sdk_version,
        )
    if ep.in_process is not None:
        return InProcessEndpoint(ep.in_process.content, ep.in_process.source)
    raise ValueError("a deployment record names no endpoint")
