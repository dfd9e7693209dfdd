"""Restate's service invocation protocol: rt as the runtime side, SDK endpoints as peers.

Owns everything needed to run handlers that live behind an HTTP endpoint built with
any Restate SDK (protocol versions 5-7): discovery of what an endpoint serves
(:func:`discover`), and attempts of invocations on it (:class:`RemoteAttempt`),
translated to and from rt's journal (``sdk.engine`` types). It never touches Kafka,
Redis or the partition processor: the HTTP-endpoint invoker drives it.

Modules: ``messages`` (type ids), ``framing`` (8-byte headers, streaming decoder),
``versions`` (negotiation), ``manifest`` (typed endpoint manifest), ``discovery``,
``transport`` (h2c and HTTP/1.1), ``translate`` (journal <-> messages), ``progress``
(what attempts yield), ``attempt``, ``awakeables``, ``errors``; ``generated/`` is the
protobuf module (``scripts/gen_proto.sh``). See docs/decisions/0018-service-protocol.md.
"""

from runtime.protocol.attempt import RemoteAttempt, RemoteEndpoint, Timeouts
from runtime.protocol.awakeables import parse_signal_awakeable_id, signal_awakeable_id
from runtime.protocol.discovery import DiscoveredEndpoint, discover, normalize_uri
from runtime.protocol.errors import (
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
from runtime.protocol.manifest import (
    EndpointManifest,
    HandlerManifest,
    HandlerType,
    InputPayload,
    OnMaxAttempts,
    Options,
    OutputPayload,
    ProtocolMode,
    RetryPolicy,
    ServiceManifest,
    ServiceType,
    parse_manifest,
)
from runtime.protocol.progress import (
    AttemptFailed,
    AttemptNotification,
    AttemptProgress,
    AttemptStart,
    AwaitTree,
    CalleeIds,
    CalleeRef,
    Combinator,
    Ended,
    ErrorBehavior,
    NewEntries,
    RunProposal,
    Signal,
    Suspended,
)
from runtime.protocol.versions import MAX_PROTOCOL_VERSION, MIN_PROTOCOL_VERSION

__all__ = [
    "MAX_PROTOCOL_VERSION",
    "MIN_PROTOCOL_VERSION",
    "AttemptAbortedError",
    "AttemptError",
    "AttemptFailed",
    "AttemptNotification",
    "AttemptProgress",
    "AttemptStart",
    "AwaitTree",
    "BadEndpointUriError",
    "BadManifestError",
    "CalleeIds",
    "CalleeRef",
    "Combinator",
    "ConnectTimeoutError",
    "DiscoveredEndpoint",
    "DiscoveryError",
    "DiscoveryResponseError",
    "EndpointManifest",
    "EndpointResponseError",
    "EndpointUnreachableError",
    "Ended",
    "ErrorBehavior",
    "HandlerManifest",
    "HandlerType",
    "InputPayload",
    "NewEntries",
    "OnMaxAttempts",
    "Options",
    "OutputPayload",
    "ProtocolMode",
    "ProtocolViolationError",
    "RemoteAttempt",
    "RemoteEndpoint",
    "RetryPolicy",
    "RunProposal",
    "ServiceManifest",
    "ServiceProtocolError",
    "ServiceType",
    "Signal",
    "Suspended",
    "Timeouts",
    "TransportError",
    "UnsupportedFeatureError",
    "UnsupportedProtocolVersionError",
    "discover",
    "normalize_uri",
    "parse_manifest",
    "parse_signal_awakeable_id",
    "signal_awakeable_id",
]
