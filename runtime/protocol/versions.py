"""Moved to the SDK (``sdk._protocol``, seam :mod:`sdk.protocol`); kept so imports work."""

from sdk.protocol import (
    MAX_MANIFEST_VERSION,
    MAX_PROTOCOL_VERSION,
    MIN_MANIFEST_VERSION,
    MIN_PROTOCOL_VERSION,
    check_protocol_version,
    invocation_content_type,
    manifest_accept_header,
    manifest_content_type,
    negotiate_protocol_version,
    parse_manifest_content_type,
)

__all__ = [
    "MAX_MANIFEST_VERSION",
    "MAX_PROTOCOL_VERSION",
    "MIN_MANIFEST_VERSION",
    "MIN_PROTOCOL_VERSION",
    "check_protocol_version",
    "invocation_content_type",
    "manifest_accept_header",
    "manifest_content_type",
    "negotiate_protocol_version",
    "parse_manifest_content_type",
]
