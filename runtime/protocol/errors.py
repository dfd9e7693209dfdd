"""Moved to the SDK (``sdk._protocol``, seam :mod:`sdk.protocol`); kept so imports work."""

from sdk.protocol import (
    AttemptAbortedError,
    AttemptError,
    BadEndpointUriError,
    BadManifestError,
    ConnectTimeoutError,
    DiscoveryError,
    DiscoveryResponseError,
    EndpointResponseError,
    EndpointUnreachableError,
    ProtocolViolationError,
    ServiceProtocolError,
    TransportError,
    UnsupportedFeatureError,
    UnsupportedProtocolVersionError,
)

__all__ = [
    "AttemptAbortedError",
    "AttemptError",
    "BadEndpointUriError",
    "BadManifestError",
    "ConnectTimeoutError",
    "DiscoveryError",
    "DiscoveryResponseError",
    "EndpointResponseError",
    "EndpointUnreachableError",
    "ProtocolViolationError",
    "ServiceProtocolError",
    "TransportError",
    "UnsupportedFeatureError",
    "UnsupportedProtocolVersionError",
]
