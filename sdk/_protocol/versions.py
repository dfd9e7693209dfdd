"""Protocol and manifest versions rt speaks, and their HTTP content types.

Owns version negotiation: which invocation-protocol versions rt supports (5-7, what
restate-sdk 1.2.0 and @restatedev/restate-sdk 1.17 declare), which endpoint-manifest
versions it accepts at discovery (1-4), and the content types naming them.
"""

from __future__ import annotations

import re

from sdk._protocol.errors import UnsupportedProtocolVersionError

MIN_PROTOCOL_VERSION = 5
"""Oldest invocation-protocol version rt speaks (the first journal of commands + notifications)."""
MAX_PROTOCOL_VERSION = 7
"""Newest invocation-protocol version rt speaks."""

MIN_MANIFEST_VERSION = 1
MAX_MANIFEST_VERSION = 4

_INVOCATION_PREFIX = "application/vnd.restate.invocation.v"
_MANIFEST_RE = re.compile(r"application/vnd\.restate\.endpointmanifest\.v(\d+)\+json")


def invocation_content_type(version: int) -> str:
    """``application/vnd.restate.invocation.vN``: request and response content type."""
    return f"{_INVOCATION_PREFIX}{version}"


def manifest_content_type(version: int) -> str:
    """``application/vnd.restate.endpointmanifest.vN+json``."""
    return f"application/vnd.restate.endpointmanifest.v{version}+json"


def manifest_accept_header() -> str:
    """The discovery request's ``Accept``: every manifest version rt reads, newest first."""
    return ", ".join(
        manifest_content_type(v) for v in range(MAX_MANIFEST_VERSION, MIN_MANIFEST_VERSION - 1, -1)
    )


def parse_manifest_content_type(content_type: str) -> int | None:
    """The manifest version a discovery response declares, or None if it declares none."""
    match = _MANIFEST_RE.fullmatch(content_type.split(";")[0].strip())
    return int(match.group(1)) if match else None


def negotiate_protocol_version(endpoint_min: int, endpoint_max: int) -> int:
    """The newest invocation-protocol version both rt and the endpoint speak.

    Args:
        endpoint_min: the manifest's ``minProtocolVersion``.
        endpoint_max: the manifest's ``maxProtocolVersion``.

    Returns:
        The version to name in ``content-type`` for every attempt on this endpoint.

    Raises:
        UnsupportedProtocolVersionError: the ranges do not overlap.
    """
    if endpoint_min > endpoint_max:
        raise UnsupportedProtocolVersionError(
            f"the endpoint declares minProtocolVersion {endpoint_min} > "
            f"maxProtocolVersion {endpoint_max}"
        )
    low = max(endpoint_min, MIN_PROTOCOL_VERSION)
    high = min(endpoint_max, MAX_PROTOCOL_VERSION)
    if low > high:
        raise UnsupportedProtocolVersionError(
            f"the endpoint speaks service protocol versions {endpoint_min}-{endpoint_max}, "
            f"rt speaks {MIN_PROTOCOL_VERSION}-{MAX_PROTOCOL_VERSION}: "
            + (
                "upgrade the SDK of the endpoint"
                if endpoint_max < MIN_PROTOCOL_VERSION
                else "this SDK is newer than rt supports"
            )
        )
    return high


def check_protocol_version(version: int) -> int:
    """Return ``version`` if rt speaks it; raise UnsupportedProtocolVersionError otherwise."""
    if not MIN_PROTOCOL_VERSION <= version <= MAX_PROTOCOL_VERSION:
        raise UnsupportedProtocolVersionError(
            f"service protocol version {version} is not supported by rt "
            f"(supported: {MIN_PROTOCOL_VERSION}-{MAX_PROTOCOL_VERSION})"
        )
    return version
