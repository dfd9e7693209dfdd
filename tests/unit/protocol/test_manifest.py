"""Endpoint manifest parsing and validation."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from runtime.protocol.errors import BadManifestError, UnsupportedProtocolVersionError
from runtime.protocol.manifest import (
    HandlerType,
    InputPayload,
    OnMaxAttempts,
    OutputPayload,
    ProtocolMode,
    ServiceType,
    parse_manifest,
)


def manifest(*services: dict[str, Any], **top: Any) -> bytes:
    body = {"minProtocolVersion": 5, "maxProtocolVersion": 7, "services": list(services), **top}
    return json.dumps(body).encode()


def service(name: str, ty: str, *handlers: dict[str, Any], **options: Any) -> dict[str, Any]:
    return {"name": name, "ty": ty, "handlers": list(handlers), **options}


def test_every_option_is_read_as_typed_values() -> None:
    body = manifest(
        service(
            "Orders",
            "WORKFLOW",
            {
                "name": "run",
                "ty": "WORKFLOW",
                "workflowCompletionRetention": 86_400_000,
                "input": {"required": True, "contentType": "application/json", "jsonSchema": True},
                "output": {"contentType": "application/proto", "setContentTypeIfEmpty": True},
                "documentation": "runs",
                "metadata": {"team": "a"},
                "retryPolicyExponentiationFactor": 1.5,
            },
            {"name": "status", "ty": "SHARED", "ingressPrivate": True},
            documentation="orders",
            metadata={"owner": "b"},
            inactivityTimeout=0,
            abortTimeout=60_000,
            journalRetention=1_000,
            idempotencyRetention=2_000,
            enableLazyState=True,
            retryPolicyInitialInterval=50,
            retryPolicyMaxInterval=60_000,
            retryPolicyMaxAttempts=70,
            retryPolicyOnMaxAttempts="PAUSE",
        ),
        protocolMode="REQUEST_RESPONSE",
    )

    parsed = parse_manifest(body, manifest_version=4)

    assert parsed.protocol_mode is ProtocolMode.REQUEST_RESPONSE
    assert parsed.protocol_version == 7
    orders = parsed.service("Orders")
    assert orders is not None and orders.ty is ServiceType.WORKFLOW
    o = orders.options
    assert (o.documentation, o.metadata) == ("orders", {"owner": "b"})
    assert o.inactivity_timeout == timedelta(0)
    assert o.abort_timeout == timedelta(minutes=1)
    assert (o.journal_retention, o.idempotency_retention) == (
        timedelta(seconds=1),
        timedelta(seconds=2),
    )
    assert o.enable_lazy_state is True and o.ingress_private is None
    assert o.retry_policy.initial_interval == timedelta(milliseconds=50)
    assert o.retry_policy.max_attempts == 70
    assert o.retry_policy.on_max_attempts is OnMaxAttempts.PAUSE
    run = orders.handler("run")
    assert run is not None and run.ty is HandlerType.WORKFLOW
    assert run.options.workflow_completion_retention == timedelta(days=1)
    assert run.input == InputPayload(True, "application/json", True)
    assert run.output == OutputPayload("application/proto", True, None)
    assert run.options.retry_policy.exponentiation_factor == 1.5
    assert run.options.retry_policy.max_attempts is None
    assert (run.options.documentation, run.options.metadata) == ("runs", {"team": "a"})
    status = orders.handler("status")
    assert status is not None and status.options.ingress_private is True


def test_defaults_for_omitted_fields() -> None:
    parsed = parse_manifest(
        manifest(
            service("Obj", "VIRTUAL_OBJECT", {"name": "h"}),
            service("Svc", "SERVICE", {"name": "h", "input": {}}),
        ),
        manifest_version=2,
    )

    obj = parsed.services[0].handlers[0]
    assert obj.ty is HandlerType.EXCLUSIVE
    assert obj.input == InputPayload(False, "*/*", None)
    assert obj.output == OutputPayload("application/json", False, None)
    assert obj.options.retry_policy.is_empty
    svc = parsed.services[1].handlers[0]
    assert svc.ty is None
    assert svc.input.content_type is None  # "input": {} means no input
    assert parsed.protocol_mode is None


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"not json", "not JSON"),
        (b"[]", "does not match the schema"),
        (
            manifest(service("S", "SERVICE", {"name": "h"}), minProtocolVersion="5"),
            r"\$\.minProtocolVersion",
        ),
        (json.dumps({"minProtocolVersion": 5, "maxProtocolVersion": 7}).encode(), "services"),
        (manifest(service("S", "ACTOR", {"name": "h"})), r"\$\.services\[0\]\.ty"),
        (manifest(service("S", "SERVICE", {"name": "h", "inactivityTimeout": -1})), ">= 0"),
        (manifest(service("S", "SERVICE", {"name": "h", "input": {"bogus": 1}})), "bogus"),
        (manifest(service("1bad", "SERVICE")), "invalid service name"),
        (manifest(service("S", "SERVICE", {"name": "a-b"})), "invalid handler name"),
        (manifest(service("S", "SERVICE"), service("S", "SERVICE")), "service 'S' twice"),
        (manifest(service("S", "SERVICE", {"name": "h"}, {"name": "h"})), "handler 'h' twice"),
        (
            manifest(service("S", "SERVICE", {"name": "h", "ty": "SHARED"})),
            "not allowed in a SERVICE",
        ),
        (manifest(service("O", "VIRTUAL_OBJECT", {"name": "h", "ty": "WORKFLOW"})), "not allowed"),
        (manifest(service("W", "WORKFLOW", {"name": "h", "ty": "SHARED"})), "exactly one WORKFLOW"),
        (
            manifest(
                service("O", "VIRTUAL_OBJECT", {"name": "h", "workflowCompletionRetention": 1})
            ),
            "workflowCompletionRetention",
        ),
        (
            manifest(service("W", "WORKFLOW", {"name": "run", "idempotencyRetention": 1})),
            "idempotencyRetention",
        ),
    ],
)
def test_bad_manifests_are_refused_naming_the_problem(body: bytes, error: str) -> None:
    with pytest.raises(BadManifestError, match=error):
        parse_manifest(body, manifest_version=4)


def test_a_protocol_range_without_overlap_is_refused() -> None:
    with pytest.raises(UnsupportedProtocolVersionError):
        parse_manifest(manifest(minProtocolVersion=1, maxProtocolVersion=3), manifest_version=4)


def test_unknown_top_level_fields_of_newer_manifests_are_ignored() -> None:
    parsed = parse_manifest(manifest(lambdaCompression="zstd", somethingNew=1), manifest_version=4)

    assert parsed.lambda_compression == "zstd"
