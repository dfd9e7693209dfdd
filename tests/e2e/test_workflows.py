"""Workflows, durable promises, awakeables and attach/output end to end (real Kafka + Redis)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
import redis

from sdk._ids import awakeable_id, idempotent_invocation_id, workflow_invocation_id
from tests.conftest import Infra
from tests.e2e.conftest import APPS, RtNode

JSON = {"content-type": "application/json"}


@pytest.fixture(params=["live", "always-replay"])
def wf_node(
    request: pytest.FixtureRequest, infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]
) -> RtNode:
    """The workflow app, live and in always-replay mode (suspend and replay at every await)."""
    replay = "1" if request.param == "always-replay" else "0"
    node = RtNode(infra, prefix, APPS / "wf_app.py", tmp_path, WF_ALWAYS_REPLAY=replay)
    nodes.append(node.start())
    return node


def _post(url: str, body: str = "", **headers: str) -> httpx.Response:
    return httpx.post(url, content=body, headers={**JSON, **headers}, timeout=60)


def _wait_for(fn, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    """Poll ``fn`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _get(url: str) -> object:
    """GET a handler's JSON result; None is sent as an empty body (Restate's serde)."""
    r = httpx.get(url, timeout=60)
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json() if r.content else None


def _published(r: redis.Redis, prefix: str, name: str) -> str:
    raw = _wait_for(lambda: r.get(f"{prefix}:{name}"))
    return raw.decode()  # type: ignore[no-any-return]


# -- workflows: exactly once ---------------------------------------------------------------


def test_thousand_concurrent_submissions_run_once(
    wf_node: RtNode, redis_client: redis.Redis, prefix: str
) -> None:
    run_id = workflow_invocation_id("Once", "w1")

    async def submit(c: httpx.AsyncClient, i: int) -> tuple[str, int, object]:
        if i % 2:
            r = await c.post(f"{wf_node.url}/Once/w1/run/send", content="7", headers=JSON)
            assert r.headers["x-restate-id"] == run_id
            return ("send", r.status_code, r.json()["status"])
        r = await c.post(f"{wf_node.url}/Once/w1/run", content="7", headers=JSON)
        return ("call", r.status_code, r.json())

    async def go() -> list[tuple[str, int, object] | BaseException]:
        # Short keep-alive: never reuse a connection the loaded server may be closing.
        limits = httpx.Limits(max_connections=200, keepalive_expiry=1)
        async with httpx.AsyncClient(timeout=120, limits=limits) as c:
            return await asyncio.gather(
                *(submit(c, i) for i in range(1000)), return_exceptions=True
            )

    answers = asyncio.run(go())
    errors = [repr(a) for a in answers if isinstance(a, BaseException)]
    assert not errors, errors[:5]
    results = [a for a in answers if not isinstance(a, BaseException)]
    assert redis_client.get(f"{prefix}:runs:w1") == b"1"
    outcomes = Counter((kind, code, str(body)) for kind, code, body in results)
    dup_call = str(
        {"code": 409, "message": "the workflow method was already invoked", "source": "invocation"}
    )
    first = outcomes[("send", 202, "Accepted")] + outcomes[("call", 200, "done-w1-7")]
    assert first == 1, outcomes
    assert outcomes[("send", 202, "PreviouslyAccepted")] + outcomes[("call", 409, dup_call)] == 999
    # The result stays available to attach/output, and later submissions are still refused.
    r = httpx.get(f"{wf_node.url}/restate/workflow/Once/w1/attach", timeout=60)
    assert (r.status_code, r.json()) == (200, "done-w1-7")
    assert _post(f"{wf_node.url}/Once/w1/run", "8").status_code == 409
    r = _post(f"{wf_node.url}/Once/w1/run/send", "8")
    assert (r.status_code, r.json()["status"]) == (202, "PreviouslyAccepted")
    assert redis_client.get(f"{prefix}:runs:w1") == b"1"


def test_workflow_run_called_from_a_handler_runs_once(
    wf_node: RtNode, redis_client: redis.Redis, prefix: str
) -> None:
    url = wf_node.url
    assert _post(f"{url}/Awk/run_once", '"h1"').json() == "done-h1-1"
    again = "error:409:the workflow method was already invoked"
    assert _post(f"{url}/Awk/run_once", '"h1"').json() == again
    assert _post(f"{url}/Once/h1/run", "1").status_code == 409
    assert redis_client.get(f"{prefix}:runs:h1") == b"1"


# -- promises ---------------------------------------------------------------------------------


def test_promise_signalled_from_shared_handler(
    wf_node: RtNode, redis_client: redis.Redis, prefix: str
) -> None:
    url = wf_node.url
    r = _post(f"{url}/Gate/g1/run/send", '"ann"')
    assert r.status_code == 202
    _wait_for(lambda: _get(f"{url}/Gate/g1/status") == "waiting")
    assert _get(f"{url}/Gate/g1/peek") is None
    r = httpx.get(f"{url}/restate/workflow/Gate/g1/output", timeout=30)
    assert r.status_code == 470
    assert _post(f"{url}/Gate/g1/approve", '"yes"').json() == "ok"
    assert _get(f"{url}/Gate/g1/peek") == "yes"
    r = _post(f"{url}/Gate/g1/approve", '"again"')
    assert r.status_code == 409
    assert r.json()["message"] == "promise was already completed"
    assert _get(f"{url}/Gate/g1/peek") == "yes"
    _wait_for(lambda: _get(f"{url}/Gate/g1/status") == "approved:yes")
    assert _post(f"{url}/Gate/g1/go", "5").json() == "ok"
    r = httpx.get(f"{url}/restate/workflow/Gate/g1/attach", timeout=60)
    assert (r.status_code, r.json()) == (200, "ann:yes:5")
    assert redis_client.get(f"{prefix}:runs:g1") == b"1"


def test_promise_rejected_from_shared_handler(wf_node: RtNode) -> None:
    url = wf_node.url
    assert _post(f"{url}/Gate/g2/deny", '"no way"').json() == "ok"  # before run starts
    r = _post(f"{url}/Gate/g2/run", '"bob"')
    assert (r.status_code, r.json()) == (200, "rejected:403:no way")
    r = httpx.get(f"{url}/Gate/g2/peek", timeout=30)
    assert r.status_code == 403 and r.json()["message"] == "no way"


# -- awakeables -----------------------------------------------------------------------------


def test_awakeable_resolved_and_rejected_over_http(
    wf_node: RtNode, redis_client: redis.Redis, prefix: str
) -> None:
    url = wf_node.url
    sent = _post(f"{url}/Awk/wait/send", '"h1"').json()["invocationId"]
    aid = _published(redis_client, prefix, "awk:h1")
    r = _post(f"{url}/restate/awakeables/{aid}/resolve", '"fine"')
    assert (r.status_code, r.content) == (202, b"")
    r = httpx.get(f"{url}/restate/invocation/{sent}/attach", timeout=60)
    assert (r.status_code, r.json()) == (200, "got:fine")
    # A second resolve after completion is harmless.
    assert _post(f"{url}/restate/a/{aid}/resolve", '"late"').status_code == 202
    assert _post(f"{url}/restate/awakeables/{aid}/reject", "late").status_code == 202
    assert httpx.get(f"{url}/restate/invocation/{sent}/output", timeout=60).json() == "got:fine"

    sent = _post(f"{url}/Awk/wait/send", '"h2"').json()["invocationId"]
    aid = _published(redis_client, prefix, "awk:h2")
    r = httpx.post(
        f"{url}/restate/awakeables/{aid}/reject",
        content=b"not approved",
        headers={"content-type": "text/plain"},
    )
    assert r.status_code == 202
    r = httpx.get(f"{url}/restate/attach/{sent}", timeout=60)
    assert r.json() == "rejected:500:not approved"


def test_awakeable_resolved_twice_first_wins(
    wf_node: RtNode, redis_client: redis.Redis, prefix: str
) -> None:
    url = wf_node.url
    sent = _post(f"{url}/Awk/wait/send", '"h3"').json()["invocationId"]
    aid = _published(redis_client, prefix, "awk:h3")
    assert _post(f"{url}/restate/awakeables/{aid}/resolve", '"first"').status_code == 202
    assert _post(f"{url}/restate/awakeables/{aid}/resolve", '"second"').status_code == 202
    r = httpx.get(f"{url}/restate/invocation/{sent}/attach", timeout=60)
    assert r.json() == "got:first"


def test_awakeable_resolved_and_rejected_from_handlers(
    wf_node: RtNode, redis_client: redis.Redis, prefix: str
) -> None:
    url = wf_node.url
    sent = _post(f"{url}/Awk/wait/send", '"h4"').json()["invocationId"]
    aid = _published(redis_client, prefix, "awk:h4")
    assert _post(f"{url}/Awk/resolve", f'["{aid}", "from handler"]').json() == "resolved"
    r = httpx.get(f"{url}/restate/invocation/{sent}/attach", timeout=60)
    assert r.json() == "got:from handler"

    sent = _post(f"{url}/AwkObj/k1/obj_wait/send", '"h5"').json()["invocationId"]
    aid = _published(redis_client, prefix, "awk:h5")
    assert _post(f"{url}/Awk/reject", f'["{aid}", "denied"]').json() == "rejected"
    r = httpx.get(f"{url}/restate/invocation/{sent}/attach", timeout=60)
    assert r.json() == "rejected:451:denied"


def test_awakeable_bad_and_unknown_ids(
    wf_node: RtNode, redis_client: redis.Redis, prefix: str
) -> None:
    url = wf_node.url
    for bad in ("prom_nope", "inv_1234", "x"):
        for action in ("resolve", "reject"):
            r = _post(f"{url}/restate/awakeables/{bad}/{action}", '"v"')
            assert r.status_code == 400, (bad, action, r.text)
            assert r.json()["message"].startswith(f"bad awakeable id '{bad}'")
    # A well-formed id of an invocation rt does not know: 202, as Restate; the completion
    # reaches the log and its partition drops it (no status appears).
    never = idempotent_invocation_id("Awk", "wait", None, "never-sent")
    unknown = awakeable_id(never, 1)
    for action in ("resolve", "reject"):
        r = _post(f"{url}/restate/awakeables/{unknown}/{action}", '"v"')
        assert r.status_code == 202 and r.content == b"", r.text
    # Dropped, not kept: the invocation, started later, waits for a completion of its own.
    _post(f"{url}/Awk/wait/send", '"h7"', **{"idempotency-key": "never-sent"})
    aid = _published(redis_client, prefix, "awk:h7")
    assert aid == unknown
    assert _post(f"{url}/restate/awakeables/{aid}/resolve", '"later"').status_code == 202
    r = httpx.get(f"{url}/restate/invocation/{never}/attach", timeout=60)
    assert r.json() == "got:later", r.text
    # Malformed ids passed by handlers fail those handlers (400), never the partition.
    for handler, body in (("resolve", '["prom_bad", "v"]'), ("reject", '["x", "v"]')):
        r = _post(f"{url}/Awk/{handler}", body)
        assert r.status_code == 400 and "bad awakeable id" in r.json()["message"], r.text
    r = _post(f"{url}/Awk/attach", '"inv_bad"')
    assert r.status_code == 400 and "bad invocation id" in r.json()["message"], r.text
    # A well-formed id naming a command that is not an awakeable completes nothing.
    sent = _post(f"{url}/Awk/wait/send", '"h6"').json()["invocationId"]
    aid = _published(redis_client, prefix, "awk:h6")
    forged = awakeable_id(sent, 0)  # command 0 is the invocation's input
    assert _post(f"{url}/restate/awakeables/{forged}/resolve", '"forged"').status_code == 202
    assert _post(f"{url}/restate/awakeables/{aid}/resolve", '"real"').status_code == 202
    r = httpx.get(f"{url}/restate/invocation/{sent}/attach", timeout=60)
    assert r.json() == "got:real"


# -- attach / output --------------------------------------------------------------------------


def _results(url: str, paths: list[tuple[str, str, str | None]]) -> list[httpx.Response]:
    """One request per path form: ``(method, path, body)``."""
    out = []
    for method, path, body in paths:
        if method == "GET":
            out.append(httpx.get(f"{url}{path}", timeout=60))
        else:
            out.append(httpx.post(f"{url}{path}", content=body or "", headers=JSON, timeout=60))
    return out


def test_attach_and_output_by_id_and_idempotency_key_on_every_path(
    wf_node: RtNode, redis_client: redis.Redis, prefix: str
) -> None:
    url = wf_node.url
    svc_id = _post(f"{url}/Awk/wait/send", '"a1"', **{"idempotency-key": "k1"}).json()[
        "invocationId"
    ]
    assert svc_id == idempotent_invocation_id("Awk", "wait", None, "k1")
    obj_id = _post(f"{url}/AwkObj/o1/obj_wait/send", '"a2"', **{"idempotency-key": "k2"}).json()[
        "invocationId"
    ]
    assert obj_id == idempotent_invocation_id("AwkObj", "obj_wait", "o1", "k2")
    forms: dict[str, list[tuple[str, str, str | None]]] = {}
    for inv_id, legacy_idem, body_idem in (
        (
            svc_id,
            "/restate/invocation/Awk/wait/k1",
            '{"target":"idempotentInvocation","service":"Awk","handler":"wait","idempotencyKey":"k1"}',
        ),
        (
            obj_id,
            "/restate/invocation/AwkObj/o1/obj_wait/k2",
            '{"target":"idempotentInvocation","service":"AwkObj","key":"o1","handler":"obj_wait",'
            '"idempotencyKey":"k2"}',
        ),
    ):
        for mode in ("attach", "output"):
            forms[f"{inv_id}:{mode}"] = [
                ("GET", f"/restate/invocation/{inv_id}/{mode}", None),
                ("GET", f"/restate/{mode}/{inv_id}", None),
                (
                    "POST",
                    f"/restate/{mode}",
                    f'{{"target":"invocation","invocationId":"{inv_id}"}}',
                ),
                ("GET", f"{legacy_idem}/{mode}", None),
                ("POST", f"/restate/{mode}", body_idem),
            ]
    # Both are waiting on their awakeables: output is 470 on every path.
    a1 = _published(redis_client, prefix, "awk:a1")
    a2 = _published(redis_client, prefix, "awk:a2")
    for inv_id in (svc_id, obj_id):
        for r in _results(url, forms[f"{inv_id}:output"]):
            assert r.status_code == 470, r.text
            assert r.json()["message"] == "the invocation exists but has not completed yet"

    async def attach_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as c:
            reqs = []
            for inv_id in (svc_id, obj_id):
                for method, path, body in forms[f"{inv_id}:attach"]:
                    if method == "GET":
                        reqs.append(c.get(f"{url}{path}"))
                    else:
                        reqs.append(c.post(f"{url}{path}", content=body or "", headers=JSON))
            pending = asyncio.gather(*reqs)
            await asyncio.sleep(1.0)  # the attaches are waiting before the results exist
            for aid, value in ((a1, "one"), (a2, "two")):
                r = await c.post(f"{url}/restate/awakeables/{aid}/resolve", content=f'"{value}"')
                assert r.status_code == 202
            return list(await pending)

    attached = asyncio.run(attach_all())
    assert [(r.status_code, r.json()) for r in attached] == [(200, "got:one")] * 5 + [
        (200, "got:two")
    ] * 5
    for inv_id, expected in ((svc_id, "got:one"), (obj_id, "got:two")):
        for r in _results(url, forms[f"{inv_id}:output"]):
            assert (r.status_code, r.json()) == (200, expected)
            assert r.headers["x-restate-id"] == inv_id
    # The same idempotency key answers the stored result without running again.
    r = _post(f"{url}/Awk/wait", '"a1"', **{"idempotency-key": "k1"})
    assert (r.status_code, r.json()) == (200, "got:one")


def test_attach_and_output_unknown_and_workflow_paths(wf_node: RtNode) -> None:
    url = wf_node.url
    ghost = idempotent_invocation_id("Awk", "wait", None, "ghost")
    for r in (
        httpx.get(f"{url}/restate/invocation/{ghost}/output", timeout=30),
        httpx.get(f"{url}/restate/attach/{ghost}", timeout=30),
        httpx.get(f"{url}/restate/invocation/Awk/wait/ghost/attach", timeout=30),
        httpx.get(f"{url}/restate/workflow/Gate/nobody/output", timeout=30),
    ):
        assert r.status_code == 404, r.text
    assert httpx.get(f"{url}/restate/attach/inv_bad", timeout=30).status_code == 400
    assert _post(f"{url}/Gate/w9/run/send", '"wf"').status_code == 202
    body = '{"target":"workflow","workflowName":"Gate","workflowKey":"w9"}'
    _wait_for(lambda: _get(f"{url}/Gate/w9/status") == "waiting")
    assert _post(f"{url}/restate/output", body).status_code == 470
    assert httpx.get(f"{url}/restate/workflow/Gate/w9/output", timeout=30).status_code == 470
    _post(f"{url}/Gate/w9/approve", '"y"')
    _post(f"{url}/Gate/w9/go", "1")
    r = _post(f"{url}/restate/attach", body)
    assert (r.status_code, r.json()) == (200, "wf:y:1")
    r = httpx.get(f"{url}/restate/workflow/Gate/w9/output", timeout=30)
    assert (r.status_code, r.json()) == (200, "wf:y:1")


def test_attach_invocation_from_a_handler(
    wf_node: RtNode, redis_client: redis.Redis, prefix: str
) -> None:
    url = wf_node.url
    target = _post(f"{url}/Awk/wait/send", '"s1"').json()["invocationId"]
    attacher = _post(f"{url}/Awk/attach/send", f'"{target}"').json()["invocationId"]
    aid = _published(redis_client, prefix, "awk:s1")
    time.sleep(0.5)
    r = httpx.get(f"{url}/restate/invocation/{attacher}/output", timeout=30)
    assert r.status_code == 470  # still waiting for the target
    _post(f"{url}/restate/awakeables/{aid}/resolve", '"shared"')
    r = httpx.get(f"{url}/restate/invocation/{attacher}/attach", timeout=60)
    assert (r.status_code, r.json()) == (200, "got:shared")
    # Attaching to a completed invocation answers at once; to an unknown one, 404.
    assert _post(f"{url}/Awk/attach", f'"{target}"').json() == "got:shared"
    ghost = idempotent_invocation_id("Awk", "wait", None, "ghost")
    r = _post(f"{url}/Awk/attach", f'"{ghost}"')
    assert (r.status_code, r.json()["message"]) == (404, "invocation not found")


# -- retention ----------------------------------------------------------------------------------


def test_workflow_retention_purges_state_promises_and_output(
    wf_node: RtNode, redis_client: redis.Redis, prefix: str
) -> None:
    url = wf_node.url
    r = _post(f"{url}/Brief/b1/run", '"first"')
    assert (r.status_code, r.json()) == (200, "first#1")
    assert _get(f"{url}/Brief/b1/brief_state") == ["first", "first"]
    assert httpx.get(f"{url}/restate/workflow/Brief/b1/output", timeout=30).json() == "first#1"
    assert _post(f"{url}/Brief/b1/run", '"again"').status_code == 409
    # Retention is 2 s: then output, state and promise are gone.
    _wait_for(
        lambda: httpx.get(f"{url}/restate/workflow/Brief/b1/output", timeout=30).status_code == 404,
        timeout=30,
    )
    assert _get(f"{url}/Brief/b1/brief_state") == [None, None]
    # A new run for the same id executes afresh.
    r = _post(f"{url}/Brief/b1/run", '"second"')
    assert (r.status_code, r.json()) == (200, "second#2")
    assert _get(f"{url}/Brief/b1/brief_state") == ["second", "second"]
    assert redis_client.get(f"{prefix}:runs:b1") == b"2"


def test_promise_waiter_survives_the_purge_of_the_run(wf_node: RtNode) -> None:
    """Retention purges promise values, not the handlers waiting on a promise: they get
    the value when it is completed later (before the fix they waited forever)."""
    url = wf_node.url
    assert _post(f"{url}/Brief/b2/run", '"first"').status_code == 200
    waiting = _post(f"{url}/Brief/b2/brief_wait/send")
    assert waiting.status_code == 202, waiting.text
    inv_id = waiting.json()["invocationId"]

    def attached_status() -> int:
        r = httpx.get(f"{url}/restate/invocation/{inv_id}/output", timeout=30)
        return r.status_code

    _wait_for(
        lambda: httpx.get(f"{url}/restate/workflow/Brief/b2/output", timeout=30).status_code == 404,
        timeout=30,
    )
    assert attached_status() == 470  # still waiting, after the purge
    assert _post(f"{url}/Brief/b2/brief_resolve", '"late"').json() == "resolved"
    r = httpx.get(f"{url}/restate/invocation/{inv_id}/attach", timeout=60)
    assert (r.status_code, r.json()) == (200, "late")


def test_promise_value_survives_kill9(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode], redis_client: redis.Redis
) -> None:
    first = RtNode(infra, prefix, APPS / "wf_app.py", tmp_path)
    nodes.append(first.start())
    url = first.url
    assert _post(f"{url}/Gate/k9/run/send", '"kim"').status_code == 202
    _wait_for(lambda: _get(f"{url}/Gate/k9/status") == "waiting")
    assert _post(f"{url}/Gate/k9/approve", '"survives"').json() == "ok"
    _wait_for(lambda: _get(f"{url}/Gate/k9/status") == "approved:survives")
    first.kill9()

    second = RtNode(infra, prefix, APPS / "wf_app.py", tmp_path)
    nodes.append(second.start())
    url = second.url
    assert _get(f"{url}/Gate/k9/peek") == "survives"
    r = _post(f"{url}/Gate/k9/approve", '"other"')
    assert (r.status_code, r.json()["message"]) == (409, "promise was already completed")
    assert _post(f"{url}/Gate/k9/go", "9").json() == "ok"
    r = httpx.get(f"{url}/restate/workflow/Gate/k9/attach", timeout=60)
    assert (r.status_code, r.json()) == (200, "kim:survives:9")
    assert redis_client.get(f"{prefix}:runs:k9") == b"1"
