"""Pin the public surface: an accidental API change must fail here."""

from __future__ import annotations

import sdk
import sdk.engine
import sdk.exceptions
import sdk.serde

# Mirrors restate-sdk's ``restate.__all__`` minus what rt does not ship yet
# (create_test_harness, test_harness, HarnessEnvironment, create_client, RestateClient).
EXPECTED_SDK = [
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
    "is_internal_exception",
]


def test_sdk_all_is_pinned() -> None:
    assert sdk.__all__ == EXPECTED_SDK
    for name in EXPECTED_SDK:
        assert getattr(sdk, name) is not None, name


def test_serde_module() -> None:
    assert sorted(sdk.serde.__all__) == sorted(
        [
            "Serde",
            "JsonSerde",
            "BytesSerde",
            "DefaultSerde",
            "PydanticJsonSerde",
            "MsgspecJsonSerde",
        ]
    )


def test_exceptions_module() -> None:
    assert {"TerminalError", "RetryableError", "is_internal_exception"} <= set(
        sdk.exceptions.__all__
    )
    assert sdk.TerminalError is sdk.exceptions.TerminalError
    err = sdk.exceptions.RetryableError("x")
    assert (err.message, err.status_code, err.retry_after) == ("x", 500, None)


def test_engine_module_exports_exist() -> None:
    for name in sdk.engine.__all__:
        assert hasattr(sdk.engine, name), name
    assert {
        "InvocationDriver",
        "InvocationDescriptor",
        "Progress",
        "Blocked",
        "Done",
        "Failed",
    } <= set(sdk.engine.__all__)


def test_internal_exceptions_are_base_exceptions() -> None:
    e = sdk.exceptions.SuspendedException()
    assert not isinstance(e, Exception)
    assert sdk.is_internal_exception(e)
    assert not sdk.is_internal_exception(ValueError())
