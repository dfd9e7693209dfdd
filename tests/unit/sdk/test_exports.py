"""Pin the public surface: an accidental API change must fail here.

Every public (non-underscore) module of ``sdk`` has its ``__all__`` pinned exactly,
in order. Changing a list below is an API change: say so in the changelog. A name
taken out of a public module goes to ``REMOVED`` with the reason, so that it cannot
come back by accident.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import pytest

import sdk
import sdk.exceptions

# Mirrors restate-sdk's ``restate.__all__`` minus what rt does not ship (see NOT_SHIPPED).
SDK = [
    "Service",
    "VirtualObject",
    "Workflow",
    "Context",
    "ObjectContext",
    "ObjectSharedContext",
    "WorkflowContext",
    "WorkflowSharedContext",
    "DurablePromise",
    "RestateDurableFuture",
    "RestateDurableCallFuture",
    "RestateDurableSleepFuture",
    "SendHandle",
    "RunOptions",
    "TerminalError",
    "InvocationRetryPolicy",
    "app",
    "gather",
    "as_completed",
    "wait_completed",
    "select",
    "getLogger",
    "SdkInternalBaseException",
    "is_internal_exception",
]

CONTEXT = [
    "AttemptFinishedEvent",
    "Context",
    "DurablePromise",
    "HandlerType",
    "ObjectContext",
    "ObjectSharedContext",
    "Request",
    "RestateDurableCallFuture",
    "RestateDurableFuture",
    "RestateDurableSleepFuture",
    "RunAction",
    "RunOptions",
    "SendHandle",
    "WorkflowContext",
    "WorkflowSharedContext",
]

SERDE = [
    "BytesSerde",
    "DefaultSerde",
    "JsonSerde",
    "MsgspecJsonSerde",
    "PydanticJsonSerde",
    "Serde",
]

EXCEPTIONS = [
    "RetryableError",
    "SdkInternalBaseException",
    "SdkInternalException",
    "SuspendedException",
    "TerminalError",
    "is_internal_exception",
]

KAFKA = [
    "JSON",
    "RAW",
    "AvroSerializer",
    "BytesSerializer",
    "JsonSerializer",
    "Serializer",
    "TopicCheck",
    "emit",
    "validate_topic_name",
]

PIPELINES = [
    "Enrichment",
    "StateTTL",
    "Window",
    "Windows",
    "late_assignment",
    "now_ms",
    "update",
]

TESTING = [
    "HttpError",
    "Runtime",
    "runtime_fixture",
]

# The SDK's interface to the runtime (the runtime side imports only these).
ENGINE = [
    "COMMAND_TYPES",
    "COMPLETABLE",
    "NON_DETERMINISM_CODE",
    "NOTIFICATION_TYPES",
    "PROTOCOL_VIOLATION_CODE",
    "SIGNAL_WAKE",
    "App",
    "AttachInvocationCommand",
    "AwakeableCommand",
    "Blocked",
    "CallCommand",
    "CancelInvocationCommand",
    "EmitCommand",
    "CancelSignal",
    "ClearAllStateCommand",
    "ClearStateCommand",
    "Command",
    "CompleteAwakeableCommand",
    "CompletePromiseCommand",
    "Completion",
    "Done",
    "DriverClosedError",
    "EffectiveOptions",
    "Failed",
    "Failure",
    "GetInvocationOutputCommand",
    "GetPromiseCommand",
    "GetStateCommand",
    "GetStateKeysCommand",
    "HandlerDefinition",
    "HandlerKind",
    "HandlerOptions",
    "InputCommand",
    "InvocationDescriptor",
    "InvocationRetryPolicy",
    "InvocationDriver",
    "JournalEntry",
    "NamedSignal",
    "Notification",
    "OutputCommand",
    "PeekPromiseCommand",
    "Progress",
    "Result",
    "RunCommand",
    "SendCommand",
    "SendSignalCommand",
    "ServiceDefinition",
    "ServiceOptions",
    "ServiceType",
    "SetStateCommand",
    "SignalCommand",
    "SleepCommand",
    "StateKeys",
    "Status",
    "Value",
    "ValueOrFailure",
    "Void",
    "acknowledge_lifespan",
    "builtin_services",
    "decode_entry",
    "decode_journal",
    "encode_entry",
    "encode_journal",
    "handler_definition_of",
    "is_command",
    "journal_from_json",
    "journal_to_json",
]

# The service protocol's codec, shared by the runtime's client and the SDK's endpoint
# (the runtime side imports only these and sdk.engine's; ADR 0021).
PROTOCOL = [
    "BUILTIN_SIGNAL_CANCEL",
    "CUSTOM_TYPE_MIN",
    "DEFAULT_MAX_FRAME_LENGTH",
    "FINAL_PROGRESS",
    "FIRST_USER_SIGNAL",
    "HEADER_SIZE",
    "MAX_MANIFEST_VERSION",
    "MAX_PROTOCOL_VERSION",
    "MIN_MANIFEST_VERSION",
    "MIN_PROTOCOL_VERSION",
    "REQUESTED_ACK_FLAG",
    "SIGNAL_AWAKEABLE_PREFIX",
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
    "CommandMessage",
    "ConnectTimeoutError",
    "DiscoveryError",
    "DiscoveryResponseError",
    "Ended",
    "EndpointResponseError",
    "EndpointUnreachableError",
    "ErrorBehavior",
    "IdentityError",
    "IdentitySigner",
    "IdentityVerifier",
    "Frame",
    "FrameDecoder",
    "JournalTranslator",
    "MessageType",
    "NewEntries",
    "ProtocolViolationError",
    "RunProposal",
    "ServiceProtocolError",
    "Signal",
    "Suspended",
    "TransportError",
    "UnsupportedFeatureError",
    "UnsupportedProtocolVersionError",
    "allows_ack",
    "attempt_failed",
    "check_protocol_version",
    "encode_message",
    "invocation_content_type",
    "manifest_accept_header",
    "manifest_content_type",
    "message_class",
    "message_type_of",
    "negotiate_protocol_version",
    "parse_manifest_content_type",
    "parse_signal_awakeable_id",
    "pb",
    "signal_awakeable_id",
]

# The id and routing formats both sides share (never change).
IDS = [
    "AWAKEABLE_PREFIX",
    "INVOCATION_PREFIX",
    "InvalidIdError",
    "awakeable_id",
    "child_invocation_id",
    "cron_invocation_id",
    "idempotent_invocation_id",
    "invocation_id_for",
    "keyed_routing_key",
    "make_invocation_id",
    "murmur2",
    "parse_awakeable_id",
    "parse_invocation_id",
    "partition_for_hash",
    "routing_hash",
    "subscription_invocation_id",
    "workflow_invocation_id",
]

PUBLIC: dict[str, list[str]] = {
    "sdk": SDK,
    "sdk.context": CONTEXT,
    "sdk.engine": ENGINE,
    "sdk.exceptions": EXCEPTIONS,
    "sdk.ids": IDS,
    "sdk.kafka": KAFKA,
    "sdk.pipelines": PIPELINES,
    "sdk.protocol": PROTOCOL,
    "sdk.serde": SERDE,
    "sdk.testing": TESTING,
}

REMOVED: dict[tuple[str, str], str] = {
    ("sdk.kafka", "install_topic_check"): (
        "set a process-global topic check, so emit's behaviour depended on which runtime "
        "had run in the process before; the runtime now gives each InvocationDriver its "
        "own topic_check"
    ),
}

# restate-sdk exports these; rt does not ship them, so ``import sdk as restate`` code that
# uses them fails at import rather than at run time.
NOT_SHIPPED = {
    "create_test_harness": "restate-sdk's harness; rt's is sdk.testing.Runtime",
    "test_harness": "restate-sdk's harness; rt's is sdk.testing.runtime_fixture",
    "HarnessEnvironment": "restate-sdk's harness",
    "create_client": "no typed ingress client yet",
    "RestateClient": "no typed ingress client yet",
}


def _module(name: str) -> ModuleType:
    return importlib.import_module(name)


def test_every_public_module_is_pinned() -> None:
    public = {
        f"sdk.{m.name}" for m in pkgutil.iter_modules(sdk.__path__) if not m.name.startswith("_")
    }
    assert public | {"sdk"} == set(PUBLIC)


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_all_is_pinned_exactly(name: str) -> None:
    module = _module(name)
    assert module.__all__ == PUBLIC[name]
    assert len(set(module.__all__)) == len(module.__all__), "a name listed twice"


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_every_exported_name_exists(name: str) -> None:
    module = _module(name)
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert missing == []


def test_removed_names_stay_removed() -> None:
    back = [
        f"{module}.{name} ({why})"
        for (module, name), why in REMOVED.items()
        if name in _module(module).__all__ or hasattr(_module(module), name)
    ]
    assert back == []


@pytest.mark.parametrize("name", sorted(NOT_SHIPPED))
def test_restate_names_rt_does_not_ship_are_absent(name: str) -> None:
    assert name not in sdk.__all__, NOT_SHIPPED[name]
    assert not hasattr(sdk, name), NOT_SHIPPED[name]


def test_top_level_names_are_the_submodules_objects() -> None:
    assert sdk.TerminalError is sdk.exceptions.TerminalError
    assert sdk.is_internal_exception is sdk.exceptions.is_internal_exception
    for name in ("Context", "ObjectContext", "RunOptions", "DurablePromise", "SendHandle"):
        assert getattr(sdk, name) is getattr(sdk.context, name), name


def test_retryable_error_defaults() -> None:
    err = sdk.exceptions.RetryableError("x")
    assert (err.message, err.status_code, err.retry_after) == ("x", 500, None)


def test_internal_exceptions_are_base_exceptions() -> None:
    e = sdk.exceptions.SuspendedException()
    assert not isinstance(e, Exception)
    assert sdk.is_internal_exception(e)
    assert not sdk.is_internal_exception(ValueError())
