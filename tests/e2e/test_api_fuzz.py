"""Schemathesis fuzzes every operation of the admin API and the ingress of a real node.

For each operation, bounded examples of valid input (positive) and of input that
breaks the schema (negative) are sent; every answer must come within
``REQUEST_TIMEOUT_S`` (no hang), must not be a 5xx (bad input is the caller's
fault: a clear 4xx) and must be JSON in the error shape of the API where it is an
error. The node is a throw-away one for this module, so destructive operations
(deleting deployments, killing and purging invocations) are fuzzed too.

Where the schemas come from:

- admin: its own OpenAPI document, ``GET /openapi``;
- ingress: the per-service documents the admin API serves
  (``GET /services/{name}/openapi``, as Restate's does), one per service of
  ``apps/fuzz_app.py``, plus ``RESTATE_PATHS`` below for the ``/restate/...``
  paths (awakeables, attach/output, lookup, health), which Restate publishes in
  no OpenAPI document either.

Generated strings are never valid invocation ids, so some cases get the id of a real
invocation instead (``known_ids``): completed, scheduled, or well-formed but unknown.
The endpoint URI of ``POST``/``PATCH /deployments`` is pinned to a closed loopback
port: registering runs discovery against it, and a test sends traffic only to this
machine.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    status_code_conformance,
)

from sdk.ids import workflow_invocation_id
from tests.conftest import Infra
from tests.e2e.conftest import APPS, RtNode

REQUEST_TIMEOUT_S = 15.0
"""A request not answered by then is a hang. Admin kill and purge wait up to 10 s
(``SETTLE_TIMEOUT_S``) for the log to apply them, so this must be longer."""

MAX_EXAMPLES = int(os.environ.get("RT_FUZZ_EXAMPLES", "10"))
"""Examples per operation and generation mode (raise it for a longer local run)."""

pytestmark = pytest.mark.timeout(600)
"""Under half a minute each on an idle 2-core host; several times that under load. Every
request is bounded by ``REQUEST_TIMEOUT_S``, so the suite's 120 s would only cut a
slow run short and hide which operation was next."""

SEED = os.environ.get("RT_FUZZ_SEED")
"""Unset: the same examples every run (derandomized). Set: other examples, reproducibly."""

CLOSED_LOOPBACK_URI = "http://127.0.0.1:9/"
"""Where fuzzed deployment registrations point: discovery fails at once (port 9 is
closed here), and no request leaves the machine."""

FUZZ_SERVICES = ("Echo", "Tally", "Signup")

_ID = {"type": "string"}
RESTATE_PATHS: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "rt ingress: /restate paths", "version": "1"},
    "paths": {
        "/restate/health": {"get": {"responses": {"200": {"description": "ok"}}}},
        "/restate/awakeables/{id}/resolve": {
            "post": {
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": _ID}],
                "requestBody": {"content": {"application/json": {"schema": {}}}},
                "responses": {"202": {"description": "resolved"}},
            }
        },
        "/restate/awakeables/{id}/reject": {
            "post": {
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": _ID}],
                "requestBody": {"content": {"text/plain": {"schema": {"type": "string"}}}},
                "responses": {"202": {"description": "rejected"}},
            }
        },
        **{
            f"/restate/invocation/{{id}}/{mode}": {
                "get": {
                    "parameters": [{"name": "id", "in": "path", "required": True, "schema": _ID}],
                    "responses": {"200": {"description": "the output"}},
                }
            }
            for mode in ("attach", "output")
        },
        **{
            f"/restate/workflow/{{name}}/{{key}}/{mode}": {
                "get": {
                    "parameters": [
                        {"name": "name", "in": "path", "required": True, "schema": _ID},
                        {"name": "key", "in": "path", "required": True, "schema": _ID},
                    ],
                    "responses": {"200": {"description": "the output"}},
                }
            }
            for mode in ("attach", "output")
        },
        **{
            f"/restate/{mode}": {
                "post": {
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "responses": {"200": {"description": "the output or the id"}},
                }
            }
            for mode in ("attach", "output", "lookup")
        },
    },
}


@pytest.fixture(scope="module")
def fuzz_node(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RtNode]:
    """A node of its own for this module: the fuzzer deletes, kills and purges on it."""
    prefix = f"tfuzz{os.urandom(4).hex()}"
    node = RtNode(infra, prefix, APPS / "fuzz_app.py", tmp_path_factory.mktemp("fuzz"))
    node.start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="module")
def known_ids(fuzz_node: RtNode) -> dict[str, list[str]]:
    """Ids of real invocations, so some fuzzed requests reach past the id check: completed
    ones (``done``: attach and output answer at once) and, for the admin API only, one
    scheduled an hour ahead (``scheduled``: killed, cancelled and purged by the fuzzer),
    plus a well-formed id of an invocation that never existed (``unknown``)."""
    base = fuzz_node.url
    done = []
    r = httpx.post(f"{base}/Echo/text", json="x", headers={"idempotency-key": "fuzz"}, timeout=30)
    assert r.status_code == 200, r.text
    done.append(r.headers["x-restate-id"])
    r = httpx.post(f"{base}/Signup/fuzz@example.com/run", json="fuzz@example.com", timeout=30)
    assert r.status_code == 200, r.text
    done.append(r.headers["x-restate-id"])
    r = httpx.post(
        f"{base}/Tally/fuzz/add/send?delay=1h",
        json=1,
        headers={"idempotency-key": "later"},
        timeout=30,
    )
    assert r.status_code == 202, r.text
    return {
        "done": done,
        "scheduled": [r.json()["invocationId"]],
        "unknown": [workflow_invocation_id("Signup", "never-started")],
    }


def _with_ids(
    strategy: st.SearchStrategy[schemathesis.Case], ids: list[str]
) -> st.SearchStrategy[schemathesis.Case]:
    """Put one of ``ids`` (or leave the generated one) in an invocation id path parameter."""

    def put(pair: tuple[schemathesis.Case, str | None]) -> schemathesis.Case:
        case, chosen = pair
        params = case.path_parameters or {}
        if chosen is not None and "invocation" in case.path:
            for name in ("invocation_id", "id"):
                if name in params:
                    params[name] = chosen
        return case

    return st.tuples(strategy, st.none() | st.sampled_from(ids)).map(put)


def _pin_deployment_uri(case: schemathesis.Case) -> schemathesis.Case:
    if case.path.startswith("/deployments") and isinstance(case.body, dict) and "uri" in case.body:
        case.body["uri"] = CLOSED_LOOPBACK_URI
    return case


def _error_shape(required: tuple[str, ...]) -> Callable[..., bool | None]:
    def check(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> bool | None:
        if response.status_code < 400 or case.method == "HEAD":
            return None
        body = response.json()
        assert isinstance(body, dict), f"error body is not a JSON object: {response.text[:200]}"
        missing = [k for k in required if k not in body]
        assert not missing, f"error body lacks {missing}: {response.text[:200]}"
        assert isinstance(body["message"], str) and body["message"], "empty error message"
        return None

    return check


def _modes(operation: schemathesis.APIOperation) -> list[GenerationMode]:
    """Negative cases only where a request can break the schema: a body with a schema
    or a query parameter (path parameters and headers here are any string). Asking for
    them elsewhere costs seconds of generation for nothing."""
    if any(body.is_negatable for body in operation.body) or len(operation.query):
        return [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    return [GenerationMode.POSITIVE]


def _fuzz(
    schema: schemathesis.BaseSchema,
    base_url: str,
    checks: list[Callable[..., bool | None]],
    ids: list[str],
) -> list[str]:
    """Run every operation of ``schema``; return one line per failing operation and mode."""
    failures: list[str] = []
    sent: dict[str, int] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations, "the schema has no operations"
    with requests.Session() as session:
        for operation in operations:
            _fuzz_operation(operation, base_url, session, checks, ids, sent, failures)
    # Every operation was really exercised, not skipped by the generator.
    missed = [op.label for op in operations if not sent.get(op.label)]
    failures += [f"{label}: no request was sent" for label in missed]
    return failures


def _fuzz_operation(
    operation: schemathesis.APIOperation,
    base_url: str,
    session: requests.Session,
    checks: list[Callable[..., bool | None]],
    ids: list[str],
    sent: dict[str, int],
    failures: list[str],
) -> None:
    """Positive (and, where possible, negative) cases of one operation."""
    for mode in _modes(operation):
        generated = operation.as_strategy(generation_mode=mode)
        strategy = _with_ids(generated, ids).map(_pin_deployment_uri)

        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=SEED is None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @seed(int(SEED or 0))
        @given(case=strategy)
        def run(case: schemathesis.Case) -> None:
            try:
                response = case.call(base_url=base_url, session=session, timeout=REQUEST_TIMEOUT_S)
            except requests.Timeout as e:
                raise AssertionError(
                    f"no answer within {REQUEST_TIMEOUT_S} s: {case.as_curl_command()}"
                ) from e
            sent[case.operation.label] = sent.get(case.operation.label, 0) + 1
            case.validate_response(response, checks=checks)

        try:
            run()
        except Unsatisfiable:  # nothing in the request can break its schema
            continue
        # One operation's failure must not hide the others' (schemathesis raises a
        # FailureGroup, a BaseExceptionGroup, when a check fails).
        except (Exception, BaseExceptionGroup) as e:
            detail = "".join(traceback.format_exception(e))[-3000:]
            failures.append(f"{operation.label} [{mode.value}]: {e}\n{detail}")


def _check_no_failures(failures: list[str]) -> None:
    assert not failures, f"{len(failures)} failing operation(s):\n\n" + "\n\n".join(failures)


def test_admin_api_fuzz(fuzz_node: RtNode, known_ids: dict[str, list[str]]) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzz_node.admin_url}/openapi")
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        _error_shape(("message",)),
    ]
    ids = known_ids["done"] + known_ids["scheduled"] + known_ids["unknown"]
    _check_no_failures(_fuzz(schema, fuzz_node.admin_url, checks, ids))
    _check_still_serving(fuzz_node)


def _check_still_serving(node: RtNode) -> None:
    """No crash: the node runs, and the services of its app are all still there."""
    assert node.proc is not None and node.proc.poll() is None, "the node exited"
    listed = httpx.get(f"{node.admin_url}/services", timeout=10).json()["services"]
    assert set(FUZZ_SERVICES) <= {s["name"] for s in listed}


def test_ingress_fuzz(fuzz_node: RtNode, known_ids: dict[str, list[str]]) -> None:
    # Not the scheduled one: attaching to it waits (rightly) for an hour.
    ids = known_ids["done"] + known_ids["unknown"]
    failures: list[str] = []
    checks = [not_a_server_error, content_type_conformance, _error_shape(("code", "message"))]
    for name in FUZZ_SERVICES:
        doc = httpx.get(f"{fuzz_node.admin_url}/services/{name}/openapi", timeout=10).json()
        schema = schemathesis.openapi.from_dict(doc)
        failures += _fuzz(schema, fuzz_node.url, checks, ids)
    # The /restate paths' document declares no media types: nothing to conform to.
    restate_checks = [not_a_server_error, _error_shape(("code", "message"))]
    restate = schemathesis.openapi.from_dict(RESTATE_PATHS)
    failures += _fuzz(restate, fuzz_node.url, restate_checks, ids)
    _check_no_failures(failures)
    # The node still serves well-formed requests after all that.
    r = httpx.post(f"{fuzz_node.url}/Echo/number", json=7, timeout=10)
    assert r.status_code == 200 and r.json() == 7
    _check_still_serving(fuzz_node)
