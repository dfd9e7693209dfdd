"""Path parsing alone: every path form of both families, and every way a path can be wrong."""

from __future__ import annotations

import pytest

from runtime.ingress import errors
from runtime.ingress.errors import IngressError
from runtime.ingress.paths import parse_path
from runtime.ingress.targets import (
    AwakeableAction,
    AwakeableRequest,
    ByIdempotencyKey,
    ByInvocationId,
    ByWorkflow,
    HealthRequest,
    InvokeKind,
    LookupRequest,
    RequestTarget,
    ResultByBodyRequest,
    ResultMode,
    ResultRequest,
    ServiceRequest,
)
from sdk._ids import idempotent_invocation_id, workflow_invocation_id

from .conftest import FIXED_ID, make_registry

CALL, SEND = InvokeKind.CALL, InvokeKind.SEND
ATTACH, OUTPUT = ResultMode.ATTACH, ResultMode.OUTPUT


def parse(path: str) -> RequestTarget:
    return parse_path(path, make_registry().get)


def parse_error(path: str) -> IngressError:
    with pytest.raises(IngressError) as info:
        parse(path)
    return info.value


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # legacy family
        ("/Greeter/greet", ServiceRequest("Greeter", "greet", None, CALL)),
        ("/Greeter/greet/send", ServiceRequest("Greeter", "greet", None, SEND)),
        ("/Counter/my-key/add", ServiceRequest("Counter", "add", "my-key", CALL)),
        ("/Counter/my-key/add/send", ServiceRequest("Counter", "add", "my-key", SEND)),
        ("/Signup/user-1/run", ServiceRequest("Signup", "run", "user-1", CALL)),
        ("/Signup/user-1/run/send", ServiceRequest("Signup", "run", "user-1", SEND)),
        # a handler literally called "send" on an object: the key segment decides
        ("/Counter/k/send", ServiceRequest("Counter", "send", "k", CALL)),
        ("/Counter/k/send/send", ServiceRequest("Counter", "send", "k", SEND)),
        # new family
        ("/restate/call/Greeter/greet", ServiceRequest("Greeter", "greet", None, CALL)),
        ("/restate/send/Greeter/greet", ServiceRequest("Greeter", "greet", None, SEND)),
        ("/restate/call/Counter/k/add", ServiceRequest("Counter", "add", "k", CALL)),
        ("/restate/send/Counter/k/add", ServiceRequest("Counter", "add", "k", SEND)),
        ("/restate/call/Signup/id/run", ServiceRequest("Signup", "run", "id", CALL)),
        (
            "/restate/scope/tenant%201/call/Greeter/greet",
            ServiceRequest("Greeter", "greet", None, CALL, scope="tenant 1"),
        ),
        (
            "/restate/scope/s/send/Counter/k/add",
            ServiceRequest("Counter", "add", "k", SEND, scope="s"),
        ),
        ("/restate/health", HealthRequest()),
        ("/restate/lookup", LookupRequest()),
        ("/restate/attach", ResultByBodyRequest(ATTACH)),
        ("/restate/output", ResultByBodyRequest(OUTPUT)),
        (f"/restate/attach/{FIXED_ID}", ResultRequest(ATTACH, ByInvocationId(FIXED_ID))),
        (f"/restate/output/{FIXED_ID}", ResultRequest(OUTPUT, ByInvocationId(FIXED_ID))),
        (
            f"/restate/invocation/{FIXED_ID}/attach",
            ResultRequest(ATTACH, ByInvocationId(FIXED_ID)),
        ),
        (
            f"/restate/invocation/{FIXED_ID}/output",
            ResultRequest(OUTPUT, ByInvocationId(FIXED_ID)),
        ),
        (
            "/restate/invocation/Greeter/greet/idem-1/attach",
            ResultRequest(ATTACH, ByIdempotencyKey("Greeter", None, "greet", "idem-1")),
        ),
        (
            "/restate/invocation/Greeter/greet/idem-1/output",
            ResultRequest(OUTPUT, ByIdempotencyKey("Greeter", None, "greet", "idem-1")),
        ),
        (
            "/restate/invocation/Counter/k/add/idem-1/attach",
            ResultRequest(ATTACH, ByIdempotencyKey("Counter", "k", "add", "idem-1")),
        ),
        (
            "/restate/invocation/Counter/k/add/idem-1/output",
            ResultRequest(OUTPUT, ByIdempotencyKey("Counter", "k", "add", "idem-1")),
        ),
        ("/restate/workflow/Signup/u1/attach", ResultRequest(ATTACH, ByWorkflow("Signup", "u1"))),
        ("/restate/workflow/Signup/u1/output", ResultRequest(OUTPUT, ByWorkflow("Signup", "u1"))),
        (
            "/restate/awakeables/prom_x/resolve",
            AwakeableRequest("prom_x", AwakeableAction.RESOLVE),
        ),
        ("/restate/awakeables/prom_x/reject", AwakeableRequest("prom_x", AwakeableAction.REJECT)),
        ("/restate/a/prom_x/resolve", AwakeableRequest("prom_x", AwakeableAction.RESOLVE)),
        ("/restate/a/prom_x/reject", AwakeableRequest("prom_x", AwakeableAction.REJECT)),
    ],
)
def test_path_forms(path: str, expected: RequestTarget) -> None:
    assert parse(path) == expected


@pytest.mark.parametrize(
    "path", ["/Greeter/greet/", "/Greeter/greet///", "//Greeter/greet", "///Greeter/greet/"]
)
def test_slashes_are_normalized_like_restate(path: str) -> None:
    assert parse(path) == ServiceRequest("Greeter", "greet", None, CALL)


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/Counter/a%2Fb/add", "a/b"),
        ("/Counter/caf%C3%A9/add", "café"),
        ("/Counter/a+b/add", "a+b"),  # a path, not a form: '+' is not a space
        ("/Counter/%20/add", " "),
        ("/restate/call/Counter/a%2Fb/add", "a/b"),
    ],
)
def test_keys_are_url_decoded(path: str, key: str) -> None:
    target = parse(path)
    assert isinstance(target, ServiceRequest)
    assert target.key == key


def test_workflow_and_idempotency_keys_are_url_decoded() -> None:
    assert parse("/restate/workflow/Signup/a%2Fb/output") == ResultRequest(
        OUTPUT, ByWorkflow("Signup", "a/b")
    )
    assert parse("/restate/invocation/Counter/k%20k/add/i%2F1/attach") == ResultRequest(
        ATTACH, ByIdempotencyKey("Counter", "k k", "add", "i/1")
    )


def test_service_and_handler_names_are_not_decoded() -> None:
    assert (
        parse_error("/Gr%65eter/greet").message
        == errors.IngressError.service_not_found("Gr%65eter").message
    )


def test_undecodable_key_is_400() -> None:
    err = parse_error("/Counter/%FF/add")
    assert err.status == 400
    assert err.message.startswith("bad path, cannot decode key: ")


@pytest.mark.parametrize(
    "path",
    [
        "/Unknown/greet",
        "/Unknown/k/h/send",
        "/restate/call/Unknown/h",
        "/restate/send/Unknown/k/h",
        "/restate/invocation/Unknown/h/idem/attach",
    ],
)
def test_unknown_service_fails_first(path: str) -> None:
    err = parse_error(path)
    assert (err.status, err.message) == (
        404,
        "service 'Unknown' not found, make sure to register the service before calling it.",
    )


@pytest.mark.parametrize(
    "path",
    [
        "/Greeter/greet/other",  # only /send may follow the handler
        "/Greeter/greet/send/extra",  # anything after /send
        "/Counter/k/add/send/x",
        "/Counter/k/add/other",
        "/Counter/k",  # keyed: the key is not the handler
        "/Greeter/greet//x",  # an empty segment inside the path
    ],
)
def test_bad_service_path(path: str) -> None:
    err = parse_error(path)
    assert (err.status, err.message) == (400, errors.BAD_SERVICE_PATH_MESSAGE)


@pytest.mark.parametrize(
    "path",
    [
        "/restate/call/Greeter",
        "/restate/call/Counter/k",
        "/restate/call/Greeter/greet/extra",
        "/restate/send/Counter/k/add/send",
        "/restate/scope/s",
        "/restate/scope/s/attach/Greeter/greet",
        f"/restate/attach/{FIXED_ID}/extra",
        "/restate/lookup/extra",
    ],
)
def test_bad_restate_api_path(path: str) -> None:
    err = parse_error(path)
    assert (err.status, err.message) == (400, errors.BAD_RESTATE_API_PATH_MESSAGE)


@pytest.mark.parametrize(
    ("path", "reported"),
    [
        ("/", "/"),
        ("///", "/"),
        ("/Greeter", "/Greeter"),
        ("/Greeter/", "/Greeter"),
        ("", ""),
        ("/restate/scope/s/call/Counter/k/add/x", "/restate/scope/s/call/Counter/k/add/x"),
    ],
)
def test_segment_count(path: str, reported: str) -> None:
    err = parse_error(path)
    assert (err.status, err.message) == (400, f"bad path: {reported}")


@pytest.mark.parametrize(
    "path",
    [
        "/restate/unknown",
        "/restate/unknown/x/y",
        "/openapi/x",
        "/restate/awakeables/prom_x/accept",
        f"/restate/invocation/{FIXED_ID}/cancel",
        "/restate/invocation/Greeter/greet/idem/cancel",
        "/restate/workflow/Signup/u1/cancel",
    ],
)
def test_unknown_restate_paths_are_404(path: str) -> None:
    err = parse_error(path)
    assert (err.status, err.message) == (404, "not found")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/restate/awakeables/prom_x", errors.BAD_AWAKEABLES_PATH_MESSAGE),
        ("/restate/a/prom_x/resolve/extra", errors.BAD_AWAKEABLES_PATH_MESSAGE),
        ("/restate/invocation/x", errors.BAD_INVOCATION_PATH_MESSAGE),
        ("/restate/invocation/Counter/k/add/idem", errors.BAD_INVOCATION_PATH_MESSAGE),
        ("/restate/invocation/Greeter/greet/idem/attach/x", errors.BAD_INVOCATION_PATH_MESSAGE),
        ("/restate/workflow/Signup/u1", errors.BAD_WORKFLOW_PATH_MESSAGE),
        ("/restate/workflow/Signup/u1/attach/x", errors.BAD_WORKFLOW_PATH_MESSAGE),
    ],
)
def test_bad_family_paths(path: str, message: str) -> None:
    err = parse_error(path)
    assert (err.status, err.message) == (400, message)


@pytest.mark.parametrize(
    "path",
    [
        "/restate/attach/inv_nope",
        "/restate/output/not-an-id",
        "/restate/invocation/inv_nope/attach",
        "/restate/invocation/inv_0000000000000000000000000!/output",
    ],
)
def test_bad_invocation_id(path: str) -> None:
    bad_id = [s for s in path.split("/") if s.startswith(("inv_", "not-"))][0]
    err = parse_error(path)
    assert err.status == 400
    assert err.message.startswith(f"bad invocation id '{bad_id}': ")
    assert len(err.message) > len(f"bad invocation id '{bad_id}': ")


def test_query_ids_are_the_deterministic_ones() -> None:
    assert ByWorkflow("Signup", "u1").invocation_id_of() == workflow_invocation_id("Signup", "u1")
    assert ByIdempotencyKey("Counter", "k", "add", "i").invocation_id_of() == (
        idempotent_invocation_id("Counter", "add", "k", "i")
    )
    assert ByInvocationId(FIXED_ID).invocation_id_of() == FIXED_ID
