"""Errors of the service protocol layer: what went wrong talking to an SDK endpoint.

Owns the exception hierarchy only. Every error names its cause in words an operator
can act on; the retry decision belongs to the caller (all attempt errors are retryable
from the runtime's point of view, discovery errors refuse a registration).
"""

from __future__ import annotations


class ServiceProtocolError(Exception):
    """Base class of every error of the service protocol layer (both sides)."""


# --- Discovery -----------------------------------------------------------------


class DiscoveryError(ServiceProtocolError):
    """``GET {uri}/discover`` did not produce a usable endpoint manifest."""


class BadEndpointUriError(DiscoveryError):
    """The endpoint URI is not an absolute ``http://`` URI."""


class EndpointUnreachableError(DiscoveryError):
    """No connection, or no answer in time, from the endpoint."""


class DiscoveryResponseError(DiscoveryError):
    """The endpoint answered discovery with an HTTP error status."""

    def __init__(self, message: str, *, status: int, body: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class BadManifestError(DiscoveryError):
    """The endpoint's answer is not JSON, or not a valid endpoint manifest."""


class UnsupportedProtocolVersionError(DiscoveryError):
    """The endpoint's protocol versions and rt's do not overlap."""


# --- Invocation attempts --------------------------------------------------------


class AttemptError(ServiceProtocolError):
    """An attempt on a remote endpoint ended without a protocol outcome."""


class TransportError(AttemptError):
    """The connection or HTTP stream failed (refused, reset, closed mid-stream)."""


class ConnectTimeoutError(TransportError):
    """The endpoint did not accept a connection within the connect timeout."""


class AttemptAbortedError(AttemptError):
    """The endpoint neither progressed nor suspended within the abort timeout."""


class EndpointResponseError(AttemptError):
    """The endpoint answered the invocation request with an error status."""

    def __init__(self, message: str, *, status: int, body: bytes = b"") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class ProtocolViolationError(AttemptError):
    """The endpoint sent bytes or messages that break the service protocol."""


class UnsupportedFeatureError(ProtocolViolationError):
    """The endpoint used a protocol feature that rt's journal cannot record yet."""
