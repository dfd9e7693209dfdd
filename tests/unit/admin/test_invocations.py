"""HTTP shape of ``/invocations/{id}`` (in-memory invocation backend)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from runtime.admin.app import create_admin_app
from runtime.admin.history import HistoryPage, encode_cursor
from runtime.admin.invocation_models import InvocationDescription
from runtime.admin.invocations import (
    InvocationCompleted,
    InvocationNotFound,
    ListFilter,
    describe_status,
    invocations_router,
)
from runtime.log.records import Failure, Target
from runtime.partition.status import InvocationStatus, Outcome, Status
from sdk import _journal as sj
from sdk._ids import invocation_id_for
from tests.unit.admin.fakes import InMemoryAdminBackend, sample_registry

RUNNING = invocation_id_for(service="S", key=None)
DONE = invocation_id_for(service="S", key=None)
UNKNOWN = invocation_id_for(service="S", key=None)
_LABELS = {RUNNING: "running", DONE: "done", UNKNOWN: "unknown"}  # stable test ids (xdist)


def _status(inv_id: str, status: Status, deployment: str | None = None) -> InvocationStatus:
    st = InvocationStatus(
        invocation_id=inv_id,
        target=Target("Obj", "h", "k1", "exclusive"),
        status=status,
        created_ms=1_700_000_000_000,
        modified_ms=1_700_000_001_000,
        attempt=2,
        retry_count=1,
        last_failure=Failure(500, "boom"),
        deployment=deployment,
    )
    if status is Status.COMPLETED:
        st.outcome = Outcome(failure=Failure(409, "killed"))
        st.completed_ms = 1_700_000_002_000
    return st


class FakeInvocations:
    def __init__(self) -> None:
        self.statuses = {
            RUNNING: _status(RUNNING, Status.SUSPENDED, deployment="dp_v1"),
            DONE: _status(DONE, Status.COMPLETED),
        }
        self.calls: list[tuple[str, str]] = []

    def _get(self, inv_id: str) -> InvocationStatus:
        st = self.statuses.get(inv_id)
        if st is None:
            raise InvocationNotFound(inv_id)
        return st

    async def describe(self, invocation_id: str) -> InvocationDescription:
        return describe_status(self._get(invocation_id), 4)

    async def active(self, which: ListFilter) -> list[InvocationDescription]:
        found = [
            describe_status(st, 0)
            for st in self.statuses.values()
            if st.status is not Status.COMPLETED
        ]
        return sorted((d for d in found if which.matches(d)), key=lambda d: (d.created_at, d.id))

    async def history(
        self, which: ListFilter, below: tuple[int, str] | None, offset: int, limit: int
    ) -> HistoryPage:
        done = sorted(
            (
                (st.completed_ms or 0, st.invocation_id, describe_status(st, 0))
                for st in self.statuses.values()
                if st.status is Status.COMPLETED
            ),
            reverse=True,
        )
        found = [
            (ms, d) for ms, i, d in done if (below is None or (ms, i) < below) and which.matches(d)
        ][offset:]
        page = found[:limit]
        more = len(found) > limit
        cursor = encode_cursor(page[-1][0], page[-1][1].id) if more else None
        return HistoryPage([d for _, d in page], more, cursor)

    async def journal(self, invocation_id: str) -> list[bytes]:
        self._get(invocation_id)
        return [
            sj.encode_entry(sj.InputCommand(headers={}, body=b"1")),
            sj.encode_entry(sj.RunCommand(name="charge")),
            sj.encode_entry(sj.Completion(1, sj.Value(b"7"))),
            sj.encode_entry(
                sj.CallCommand(
                    service="Svc", handler="h", key="k", param=b"", invocation_id="inv_x"
                )
            ),
            sj.encode_entry(sj.CancelSignal()),
            sj.encode_entry(sj.Completion(2, sj.Failure(409, "cancelled"))),
            b"\xff garbage",
        ]

    async def cancel(self, invocation_id: str) -> None:
        if self._get(invocation_id).status is Status.COMPLETED:
            raise InvocationCompleted(invocation_id)
        self.calls.append(("cancel", invocation_id))

    async def kill(self, invocation_id: str) -> bool:
        if self._get(invocation_id).status is Status.COMPLETED:
            raise InvocationCompleted(invocation_id)
        self.calls.append(("kill", invocation_id))
        return True

    async def purge(self, invocation_id: str) -> bool:
        if self._get(invocation_id).status is not Status.COMPLETED:
            raise InvocationCompleted(invocation_id)
        self.calls.append(("purge", invocation_id))
        return True


@pytest.fixture
def fake() -> FakeInvocations:
    return FakeInvocations()


@pytest.fixture
async def client(fake: FakeInvocations) -> AsyncIterator[httpx.AsyncClient]:
    app = create_admin_app(
        sample_registry(), InMemoryAdminBackend(), routers=[invocations_router(fake)]
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://admin") as c:
        yield c


async def test_describe(client: httpx.AsyncClient) -> None:
    body = (await client.get(f"/invocations/{DONE}")).json()
    assert body["target"] == "Obj/k1/h" and body["status"] == "completed"
    assert body["completion_result"] == "failure" and body["completion_failure_code"] == 409
    assert body["journal_size"] == 4 and body["retry_count"] == 1
    assert body["last_failure"] == "boom" and body["last_failure_error_code"] == 500
    assert body["created_at"] == "2023-11-14T22:13:20.000+00:00"
    assert body["pinned_deployment_id"] is None
    body = (await client.get(f"/invocations/{RUNNING}")).json()
    assert body["status"] == "suspended" and body["completion_result"] is None
    assert body["pinned_deployment_id"] == "dp_v1"


@pytest.mark.parametrize(
    ("method", "path", "inv", "status"),
    [
        ("PATCH", "cancel", RUNNING, 202),
        ("PATCH", "cancel", DONE, 409),
        ("PATCH", "cancel", UNKNOWN, 404),
        ("PATCH", "kill", RUNNING, 200),
        ("PATCH", "kill", DONE, 409),
        ("PATCH", "kill", UNKNOWN, 404),
        ("PATCH", "purge", DONE, 200),
        ("PATCH", "purge", RUNNING, 409),
        ("PATCH", "purge", UNKNOWN, 404),
        ("GET", "", UNKNOWN, 404),
        ("DELETE", "?mode=Kill", RUNNING, 200),
        ("DELETE", "", RUNNING, 202),
        ("DELETE", "?mode=Purge", DONE, 200),
        ("DELETE", "?mode=Cancel", DONE, 409),
    ],
    ids=lambda v: _LABELS.get(v, str(v)) if isinstance(v, str) else str(v),
)
async def test_status_codes(
    client: httpx.AsyncClient, fake: FakeInvocations, method: str, path: str, inv: str, status: int
) -> None:
    sep = "" if not path or path.startswith("?") else "/"
    r = await client.request(method, f"/invocations/{inv}{sep}{path}")
    assert r.status_code == status, r.text
    if status >= 400:
        assert inv in r.json()["message"]


@pytest.mark.parametrize("path", ["", "/cancel", "/kill", "/purge"])
async def test_malformed_id_is_400_and_changes_nothing(
    client: httpx.AsyncClient, fake: FakeInvocations, path: str
) -> None:
    method = "GET" if not path else "PATCH"
    r = await client.request(method, f"/invocations/inv_123{path}")
    assert r.status_code == 400 and "Invalid invocation id" in r.json()["message"]
    assert fake.calls == []


async def test_bad_mode_is_400(client: httpx.AsyncClient, fake: FakeInvocations) -> None:
    r = await client.delete(f"/invocations/{RUNNING}", params={"mode": "Explode"})
    assert r.status_code == 400 and "mode" in r.json()["message"]
    assert fake.calls == []


async def test_describe_with_journal(client: httpx.AsyncClient) -> None:
    body = (await client.get(f"/invocations/{RUNNING}", params={"journal": "true"})).json()
    assert body["status"] == "suspended"
    rows = [(e["entry_type"], e["command_index"], e["name"]) for e in body["journal"]]
    assert rows[:6] == [
        ("Command: Input", 0, None),
        ("Command: Run", 1, "charge"),
        ("Notification: Completion", 1, "value"),
        ("Command: Call", 2, "Svc/k/h (inv_x)"),
        ("Notification: Cancel", None, None),
        ("Notification: Completion", 2, "failure [409] cancelled"),
    ]
    assert rows[6][0].startswith("Undecodable")
    assert "journal" not in (await client.get(f"/invocations/{RUNNING}")).json()


async def test_list_pages_with_offset_and_total(
    client: httpx.AsyncClient, fake: FakeInvocations
) -> None:
    more = [invocation_id_for(service="S", key=None) for _ in range(4)]
    for n, inv in enumerate(more):
        fake.statuses[inv] = _status(inv, Status.INVOKED)
        fake.statuses[inv].created_ms += n + 1  # after RUNNING, in this order
    r = await client.get("/invocations", params={"limit": 2, "offset": 1})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [d["id"] for d in body["invocations"]] == more[:2]
    assert (body["more"], body["total"]) == (True, 5)
    body = (await client.get("/invocations", params={"limit": 2, "offset": 3})).json()
    assert [d["id"] for d in body["invocations"]] == more[2:]
    assert (body["more"], body["total"]) == (False, 5)
    body = (await client.get("/invocations", params={"status": "running", "offset": 9})).json()
    assert (body["invocations"], body["more"], body["total"]) == ([], False, 4)
    r = await client.get("/invocations", params={"offset": -1})
    assert r.status_code == 400


def _completed(
    inv_id: str, done_ms: int, failure: Failure | None, created_ms: int
) -> InvocationStatus:
    st = _status(inv_id, Status.COMPLETED)
    st.outcome = Outcome(value=b"1") if failure is None else Outcome(failure=failure)
    st.completed_ms = done_ms
    st.created_ms = created_ms
    return st


async def test_completed_are_listed_newest_first_with_kind_and_filters(
    client: httpx.AsyncClient, fake: FakeInvocations
) -> None:
    ids = [invocation_id_for(service="S", key=None) for _ in range(4)]
    outcomes = [None, Failure(500, "boom"), Failure(409, "killed"), Failure(409, "cancelled")]
    for n, (inv, f) in enumerate(zip(ids, outcomes, strict=True)):
        fake.statuses[inv] = _completed(inv, 1_700_000_010_000 + n, f, 1_700_000_005_000 + n)
    body = (await client.get("/invocations", params={"status": "completed"})).json()
    listed = [d["id"] for d in body["invocations"]]
    assert listed == [*reversed(ids), DONE]  # newest completion first
    kinds = {d["id"]: d["completion_kind"] for d in body["invocations"]}
    assert [kinds[i] for i in ids] == ["success", "failure", "killed", "cancelled"]
    assert (body["more"], body["total"], body["next_cursor"]) == (False, None, None)
    for kind, inv in zip(["success", "failure", "killed", "cancelled"], ids, strict=True):
        body = (
            await client.get("/invocations", params={"status": "completed", "result": kind})
        ).json()
        assert [d["id"] for d in body["invocations"]] == [inv] + (
            [DONE] if kind == "killed" else []
        )
    after = "2023-11-14T22:13:30.001Z"  # ids[1] completed at ...30.001: exclusive
    body = (
        await client.get("/invocations", params={"status": "completed", "completed_after": after})
    ).json()
    assert [d["id"] for d in body["invocations"]] == [ids[3], ids[2]]
    body = (
        await client.get(
            "/invocations",
            params={"status": "completed", "created_before": "2023-11-14T22:13:25.002"},
        )
    ).json()
    assert [d["id"] for d in body["invocations"]] == [ids[1], ids[0], DONE]


async def test_completed_pages_with_a_cursor(
    client: httpx.AsyncClient, fake: FakeInvocations
) -> None:
    ids = [invocation_id_for(service="S", key=None) for _ in range(5)]
    for n, inv in enumerate(ids):
        fake.statuses[inv] = _completed(inv, 1_700_000_010_000 + n, None, 1_700_000_000_000)
    seen: list[str] = []
    params: dict[str, str | int] = {"status": "completed", "limit": 2}
    pages = 0
    while True:
        body = (await client.get("/invocations", params=params)).json()
        seen += [d["id"] for d in body["invocations"]]
        pages += 1
        if not body["more"]:
            assert body["next_cursor"] is None
            break
        params["cursor"] = body["next_cursor"]
    assert seen == [*reversed(ids), DONE] and pages == 3


@pytest.mark.parametrize(
    "params",
    [
        {"result": "killed"},
        {"completed_after": "2023-11-14T22:13:30Z"},
        {"cursor": "1.inv_x"},
        {"status": "completed", "cursor": "nope"},
        {"status": "completed", "result": "exploded"},
        {"status": "completed", "completed_before": "yesterday"},
        {"status": "finished"},
    ],
)
async def test_bad_history_queries_are_400(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    r = await client.get("/invocations", params=params)
    assert r.status_code == 400, r.text
    assert r.json()["message"]


async def test_active_list_takes_creation_bounds(
    client: httpx.AsyncClient, fake: FakeInvocations
) -> None:
    body = (
        await client.get("/invocations", params={"created_after": "2023-11-14T22:13:20Z"})
    ).json()
    assert body["invocations"] == []  # RUNNING was created at exactly 22:13:20.000
    body = (
        await client.get("/invocations", params={"created_after": "2023-11-14T22:13:19.999Z"})
    ).json()
    assert [d["id"] for d in body["invocations"]] == [RUNNING]


async def test_openapi_documents_the_bodiless_answers(client: httpx.AsyncClient) -> None:
    """Found by the API fuzzer: cancel, kill and purge answer without a body (and kill and
    purge with 200 or 202), but the document promised a JSON body and only a 200."""
    paths = (await client.get("/openapi")).json()["paths"]
    for path, method, statuses in (
        ("/invocations/{invocation_id}/cancel", "patch", {"202"}),
        ("/invocations/{invocation_id}/kill", "patch", {"200", "202"}),
        ("/invocations/{invocation_id}/purge", "patch", {"200", "202"}),
        ("/invocations/{invocation_id}", "delete", {"200", "202"}),
    ):
        responses = paths[path][method]["responses"]
        assert set(responses) - {"default"} == statuses, (method, path)
        for status in statuses:
            assert "content" not in responses[status], (method, path, status)
