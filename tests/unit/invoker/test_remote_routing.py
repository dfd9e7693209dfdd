"""Which invoker runs an attempt, and the callee ids the HTTP-endpoint invoker gives.

An attempt pinned to an HTTP deployment, or of a service whose newest deployment is an
HTTP one, runs remotely; everything else in process. Callee ids are derived exactly as
the in-process context derives them, so a journal means the same whoever wrote it.
"""

from __future__ import annotations

from typing import Any

from runtime.invoker import deployment_record as dr
from runtime.invoker.remote import RemoteInvoker
from runtime.invoker.services import registry_from_manifest
from runtime.log import records
from runtime.partition.contract import Attempt
from runtime.protocol import CalleeRef
from runtime.registry import Defaults, HttpEndpoint, InProcessEndpoint
from sdk.ids import child_invocation_id, idempotent_invocation_id, workflow_invocation_id

SERVICES: dict[str, Any] = {
    "services": [
        {"name": "Greeter", "ty": "SERVICE", "handlers": [{"name": "greet"}]},
        {
            "name": "Signup",
            "ty": "WORKFLOW",
            "handlers": [{"name": "run"}, {"name": "ask", "ty": "SHARED"}],
        },
    ]
}
LOCAL: dict[str, Any] = {
    "services": [{"name": "Local", "ty": "SERVICE", "handlers": [{"name": "go"}]}]
}


def _attempt(service: str, deployment: str | None = None) -> Attempt:
    return Attempt(
        "inv_1", 1, records.Target(service, "greet", None, "service"), {}, deployment=deployment
    )


def _invoker() -> RemoteInvoker:
    registry = registry_from_manifest(LOCAL)
    http = HttpEndpoint(uri="http://127.0.0.1:9080", protocol_version=7)
    registry.put_deployment(dr.build("dp_http", http, SERVICES, {}, Defaults(), created_at_ms=1))
    registry.put_deployment(
        dr.build("dp_local", InProcessEndpoint("c"), LOCAL, {}, Defaults(), created_at_ms=2)
    )
    return RemoteInvoker(registry)


def test_attempts_go_where_their_pin_or_the_newest_deployment_is() -> None:
    invoker = _invoker()
    assert invoker.serves(_attempt("Greeter"))
    assert not invoker.serves(_attempt("Local"))  # newest deployment is in-process
    assert not invoker.serves(_attempt("Unknown"))
    assert invoker.serves(_attempt("Local", deployment="dp_http"))  # the pin wins
    assert not invoker.serves(_attempt("Greeter", deployment="dp_local"))
    # pinned to a deployment removed since: remote (which fails it, retried per policy)
    assert invoker.serves(_attempt("Greeter", deployment="dp_gone"))


def test_callee_ids_are_derived_as_in_process() -> None:
    callee = _invoker().callee_ids("inv_parent")
    plain = CalleeRef(3, "Greeter", "greet", None, None)
    assert callee(plain) == child_invocation_id("inv_parent", 3, "Greeter", None)
    keyed = CalleeRef(4, "Greeter", "greet", None, "idem")
    assert callee(keyed) == idempotent_invocation_id("Greeter", "greet", None, "idem")
    run = CalleeRef(5, "Signup", "run", "alice", None)
    assert callee(run) == workflow_invocation_id("Signup", "alice")
    shared = CalleeRef(6, "Signup", "ask", "alice", None)
    assert callee(shared) == child_invocation_id("inv_parent", 6, "Signup", "alice")
