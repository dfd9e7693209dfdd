"""The service model: built from a discovery manifest, options resolved in one place.

The registry of an in-process app is read from the manifest its ``sdk.app``
serves, so a remote endpoint announcing the same manifest gives the same
entries; the resolvers apply handler over service over runtime default, and
agree with what the SDK's own definitions resolve to.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

import sdk as restate
from runtime.invoker.services import (
    ManifestError,
    registry_from_manifest,
    registry_from_sdk,
    services_from_manifest,
)
from runtime.log.records import TargetKind
from runtime.registry import (
    DAY_MS,
    Defaults,
    HandlerKind,
    OnMaxAttempts,
    Options,
    Registry,
    RetryOptions,
    RetryPolicy,
    ServiceInfo,
    ServiceType,
    Timeouts,
    target_kind,
)
from sdk import (
    Context,
    InvocationRetryPolicy,
    ObjectContext,
    ObjectSharedContext,
    WorkflowContext,
    WorkflowSharedContext,
)

MANIFEST: dict[str, Any] = {
    "protocolMode": "BIDI_STREAM",
    "minProtocolVersion": 1,
    "maxProtocolVersion": 1,
    "services": [
        {
            "name": "Orders",
            "ty": "VIRTUAL_OBJECT",
            "documentation": "Orders by id.",
            "journalRetention": 60_000,
            "idempotencyRetention": 3_600_000,
            "inactivityTimeout": 5_000,
            "abortTimeout": 7_000,
            "ingressPrivate": False,
            "enableLazyState": True,
            "retryPolicyInitialInterval": 250,
            "retryPolicyMaxAttempts": 4,
            "retryPolicyOnMaxAttempts": "KILL",
            "metadata": {"team": "a"},
            "handlers": [
                {
                    "name": "place",
                    "input": {"required": True, "contentType": "application/json"},
                    "output": {
                        "setContentTypeIfEmpty": False,
                        "contentType": "application/json",
                        "jsonSchema": {"type": "string"},
                    },
                    "journalRetention": 0,
                    "idempotencyRetention": 1_000,
                    "inactivityTimeout": 0,
                    "retryPolicyMaxInterval": 2_000,
                },
                {
                    "name": "peek",
                    "ty": "SHARED",
                    "input": {},
                    "output": {"setContentTypeIfEmpty": False},
                    "ingressPrivate": True,
                    "enableLazyState": False,
                    "documentation": "Look.",
                },
            ],
        },
        {
            "name": "Signup",
            "ty": "WORKFLOW",
            "handlers": [
                {"name": "run", "workflowCompletionRetention": 2_000},
                {"name": "confirm", "ty": "SHARED", "input": {"contentType": "text/plain"}},
            ],
        },
        {"name": "Echo", "ty": "SERVICE", "ingressPrivate": True, "handlers": [{"name": "echo"}]},
    ],
}


def _registry(defaults: Defaults | None = None) -> Registry:
    return registry_from_manifest(MANIFEST, defaults)


def _svc(registry: Registry, name: str) -> ServiceInfo:
    svc = registry.get(name)
    assert svc is not None
    return svc


def test_services_and_handlers_are_read_from_the_manifest() -> None:
    orders = _svc(_registry(), "Orders")
    assert orders.ty is ServiceType.VIRTUAL_OBJECT and orders.public
    assert orders.documentation == "Orders by id."
    assert orders.options.metadata == {"team": "a"}
    place, peek = orders.handlers["place"], orders.handlers["peek"]
    assert list(orders.handlers) == ["place", "peek"]
    assert place.kind is HandlerKind.EXCLUSIVE  # the schema's default for objects
    assert (place.accept, place.input_required, place.content_type) == (
        "application/json",
        True,
        "application/json",
    )
    assert place.output_json_schema == {"type": "string"} and place.input_json_schema is None
    assert place.lazy_state and place.public  # the service's options apply
    assert peek.kind is HandlerKind.SHARED and peek.documentation == "Look."
    assert not peek.public and not peek.lazy_state  # its own options win
    assert (peek.accept, peek.input_required) == ("application/json", False)
    signup = _svc(_registry(), "Signup")
    assert signup.handlers["run"].kind is HandlerKind.WORKFLOW
    confirm = signup.handlers["confirm"]
    assert (confirm.accept, confirm.input_required) == ("text/plain", False)
    # No input description at all: any content, optional (the manifest schema's default).
    assert (signup.handlers["run"].accept, signup.handlers["run"].input_required) == ("*/*", False)
    echo = _svc(_registry(), "Echo")
    assert not echo.public and not echo.handlers["echo"].public
    assert echo.handlers["echo"].kind is None


def test_target_kinds_come_from_the_model() -> None:
    r = _registry()
    assert _svc(r, "Orders").target_kind("place") is TargetKind.EXCLUSIVE
    assert _svc(r, "Orders").target_kind("peek") is TargetKind.SHARED
    assert _svc(r, "Orders").target_kind("unknown") is TargetKind.EXCLUSIVE
    assert _svc(r, "Signup").target_kind("run") is TargetKind.WORKFLOW
    assert _svc(r, "Signup").target_kind("confirm") is TargetKind.SHARED
    assert _svc(r, "Echo").target_kind("echo") is TargetKind.SERVICE
    assert target_kind(ServiceType.SERVICE, HandlerKind.SHARED) is TargetKind.SERVICE


def test_retention_handler_over_service_over_default() -> None:
    r = _registry(Defaults(journal_retention_ms=600_000))
    orders = _svc(r, "Orders")
    assert orders.retention_ms("place", TargetKind.EXCLUSIVE, idempotent=False) == 0
    assert orders.retention_ms("place", TargetKind.EXCLUSIVE, idempotent=True) == 1_000
    assert orders.retention_ms("peek", TargetKind.SHARED, idempotent=False) == 60_000
    assert orders.retention_ms("peek", TargetKind.SHARED, idempotent=True) == 3_600_000
    signup = _svc(r, "Signup")
    assert signup.retention_ms("run", TargetKind.WORKFLOW, idempotent=False) == 2_000
    assert signup.retention_ms("run", TargetKind.WORKFLOW, idempotent=True) == 2_000
    assert signup.retention_ms("confirm", TargetKind.SHARED, idempotent=False) == 600_000
    assert signup.retention_ms("confirm", TargetKind.SHARED, idempotent=True) == DAY_MS
    # Unknown services resolve against the runtime defaults alone.
    assert r.retention_ms("Gone", "h", TargetKind.SERVICE, idempotent=False) == 600_000
    assert r.retention_ms("Gone", "h", TargetKind.WORKFLOW, idempotent=False) == DAY_MS
    assert r.retention_ms("Orders", "peek", "shared", idempotent=True) == 3_600_000
    # The service-level views the admin API shows.
    assert (orders.journal_retention_ms, orders.idempotency_retention_ms) == (60_000, 3_600_000)
    assert (signup.journal_retention_ms, signup.workflow_retention_ms) == (600_000, 2_000)
    assert _svc(r, "Echo").workflow_retention_ms == DAY_MS


def test_timeouts_handler_over_service_over_default() -> None:
    r = _registry(Defaults(inactivity_timeout_ms=30_000))
    assert r.timeouts("Orders", "place") == Timeouts(0.0, 7.0)
    assert r.timeouts("Orders", "place").always_replay
    assert r.timeouts("Orders", "peek") == Timeouts(5.0, 7.0)
    assert r.timeouts("Signup", "run") == Timeouts(30.0, None)
    assert not r.timeouts("Gone", "h").always_replay


def test_retry_policy_is_taken_whole_then_defaults_fill_in() -> None:
    r = _registry()
    # The handler declares a policy (max interval only): the service's is not consulted.
    assert r.retry_policy("Orders", "place") == RetryPolicy(max_interval_s=2.0)
    assert r.retry_policy("Orders", "peek") == RetryPolicy(
        initial_interval_s=0.25, max_attempts=4, on_max_attempts=OnMaxAttempts.KILL
    )
    assert r.retry_policy("Signup", "run") == RetryPolicy()
    assert RetryPolicy().delay_s(1) == 0.5 and RetryPolicy().delay_s(20) == 60.0
    zeros = RetryOptions(initial_interval_ms=0, max_interval_ms=0, exponentiation_factor=0)
    assert RetryPolicy().overlaid(zeros) == RetryPolicy()  # zero reads as "not set"


def test_a_remote_manifest_gives_the_same_entries() -> None:
    """What an endpoint serves over HTTP (JSON) reads back to the very same registry."""
    app = restate.app(_APP_SERVICES)
    over_the_wire = json.loads(json.dumps(app.discovery()))
    assert registry_from_manifest(over_the_wire).all() == registry_from_sdk(_APP_SERVICES).all()


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"services": None}, "manifest.services: missing"),
        ({"services": [{"ty": "SERVICE", "handlers": []}]}, r"services\[0\].name: missing"),
        ({"services": [{"name": "S", "ty": "ACTOR", "handlers": []}]}, "unknown service type"),
        (
            {
                "services": [
                    {"name": "S", "ty": "SERVICE", "handlers": [{"name": "h", "ty": "SHARED"}]}
                ]
            },
            "handlers of a plain service have no type",
        ),
        (
            {
                "services": [
                    {"name": "O", "ty": "VIRTUAL_OBJECT", "handlers": [{"name": "h", "ty": "X"}]}
                ]
            },
            "unknown handler type",
        ),
        (
            {"services": [{"name": "S", "ty": "SERVICE", "journalRetention": -1, "handlers": []}]},
            r"services\[0\].journalRetention: expected an integer >= 0",
        ),
        (
            {"services": [{"name": "S", "ty": "SERVICE", "ingressPrivate": "yes", "handlers": []}]},
            "ingressPrivate: expected bool",
        ),
        (
            {
                "services": [
                    {
                        "name": "S",
                        "ty": "SERVICE",
                        "retryPolicyOnMaxAttempts": "RETRY",
                        "handlers": [],
                    }
                ]
            },
            "expected PAUSE or KILL",
        ),
        (
            {
                "services": [
                    {"name": "S", "ty": "SERVICE", "handlers": [{"name": "h"}, {"name": "h"}]}
                ]
            },
            "duplicate handler 'h'",
        ),
        ({"services": ["S"]}, r"services\[0\]: expected an object"),
        (
            {"services": [{"name": "S", "ty": "SERVICE", "metadata": {"a": 1}, "handlers": []}]},
            "metadata: expected a map of strings",
        ),
    ],
)
def test_malformed_manifests_are_refused_with_the_field(
    patch: dict[str, Any], message: str
) -> None:
    with pytest.raises(ManifestError, match=message):
        services_from_manifest(patch)


# --- the SDK's definitions and the model agree ------------------------------------------

REPLAY = timedelta(0)
policy = InvocationRetryPolicy(initial_interval=timedelta(milliseconds=50), max_attempts=3)
obj = restate.VirtualObject(
    "Obj",
    inactivity_timeout=timedelta(seconds=3),
    abort_timeout=timedelta(seconds=4),
    journal_retention=timedelta(minutes=5),
    enable_lazy_state=True,
    invocation_retry_policy=policy,
)


@obj.handler(inactivity_timeout=REPLAY, ingress_private=True)
async def set_(ctx: ObjectContext, n: int) -> int:
    return n


@obj.handler(
    kind="shared",
    enable_lazy_state=False,
    journal_retention=timedelta(seconds=1),
    invocation_retry_policy=InvocationRetryPolicy(on_max_attempts="kill", max_attempts=2),
)
async def get(ctx: ObjectSharedContext) -> int | None:
    return None


wf = restate.Workflow("Wf", idempotency_retention=timedelta(hours=3), ingress_private=True)


@wf.main(workflow_retention=timedelta(seconds=0))
async def run(ctx: WorkflowContext, x: str | None) -> None:
    return None


@wf.handler(ingress_private=False, idempotency_retention=timedelta(seconds=9))
async def poke(ctx: WorkflowSharedContext) -> str:
    return ""


svc = restate.Service("Svc", description="A service.")


@svc.handler(accept="text/plain", content_type="text/plain", abort_timeout=timedelta(seconds=1))
async def echo(ctx: Context, body: bytes) -> bytes:
    """Echo."""
    return body


_APP_SERVICES: list[Any] = [obj, wf, svc]


def _sdk_handlers() -> list[Any]:
    return [h for s in _APP_SERVICES for h in s.handlers.values()]


@pytest.mark.parametrize("h", _sdk_handlers(), ids=lambda h: f"{h.service_name}.{h.name}")
def test_resolved_options_match_the_sdk_definitions(h: Any) -> None:
    """The resolvers answer what the SDK's handler-over-service precedence gives."""
    registry = registry_from_sdk(_APP_SERVICES, default_journal_retention_s=600)
    info = _svc(registry, h.service_name)
    handler = info.handlers[h.name]
    eff = h.effective
    assert handler.public is not eff.ingress_private
    assert handler.lazy_state is eff.enable_lazy_state
    timeouts = info.timeouts(h.name)
    inactivity = 10.0 if eff.inactivity_timeout is None else eff.inactivity_timeout.total_seconds()
    assert timeouts.inactivity_s == inactivity
    assert timeouts.always_replay is eff.always_replay
    abort = eff.abort_timeout.total_seconds() if eff.abort_timeout is not None else None
    assert timeouts.abort_s == abort
    p = eff.invocation_retry_policy
    expected = RetryPolicy()
    if p is not None:
        expected = RetryPolicy(
            initial_interval_s=p.initial_interval.total_seconds() if p.initial_interval else 0.5,
            exponentiation_factor=p.exponentiation_factor or 2.0,
            max_interval_s=p.max_interval.total_seconds() if p.max_interval else 60.0,
            max_attempts=p.max_attempts if p.max_attempts is not None else 70,
            on_max_attempts=OnMaxAttempts(p.on_max_attempts or "pause"),
        )
    assert info.retry_policy(h.name) == expected
    kind = info.target_kind(h.name)
    journal = eff.journal_retention.total_seconds() * 1000 if eff.journal_retention else None
    idem = eff.idempotency_retention
    if kind is TargetKind.WORKFLOW:
        main = h.options.workflow_retention
        want = DAY_MS if main is None else main.total_seconds() * 1000
        assert info.retention_ms(h.name, kind, idempotent=False) == want
    else:
        want_journal = 600_000 if eff.journal_retention is None else journal
        assert info.retention_ms(h.name, kind, idempotent=False) == want_journal
        want_idem = DAY_MS if idem is None else idem.total_seconds() * 1000
        assert info.retention_ms(h.name, kind, idempotent=True) == want_idem


def test_input_requirement_follows_the_signature() -> None:
    registry = registry_from_sdk(_APP_SERVICES)
    assert _svc(registry, "Obj").handlers["set_"].input_required  # n: int
    assert not _svc(registry, "Obj").handlers["get"].input_required  # no argument
    assert not _svc(registry, "Wf").handlers["run"].input_required  # x: str | None
    echo_ = _svc(registry, "Svc").handlers["echo"]
    assert echo_.input_required and (echo_.accept, echo_.content_type) == (
        "text/plain",
        "text/plain",
    )
    assert echo_.documentation == "Echo." and _svc(registry, "Svc").documentation == "A service."


def test_declared_options_keep_the_manifest_values() -> None:
    wf_info = _svc(registry_from_sdk(_APP_SERVICES), "Wf")
    assert wf_info.options == Options(
        idempotency_retention_ms=3 * 3600 * 1000, ingress_private=True
    )
    assert wf_info.handlers["run"].options.workflow_completion_retention_ms == 0
    assert not wf_info.public and wf_info.handlers["poke"].public
