"""``rt invocations ls --all / --status completed|failed|...`` against a served admin API."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from runtime.admin.invocations import invocations_router
from runtime.cli import app
from runtime.log.records import Failure
from runtime.partition.status import Status
from sdk._ids import invocation_id_for
from tests.unit.admin.fakes import InMemoryAdminBackend, sample_registry
from tests.unit.admin.test_invocations import RUNNING, FakeInvocations, _completed
from tests.unit.cli.conftest import AdminServer, serve_admin

OK = invocation_id_for(service="S", key=None)
BOOM = invocation_id_for(service="S", key=None)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[AdminServer, FakeInvocations]]:
    fake = FakeInvocations()
    fake.statuses[OK] = _completed(OK, 1_700_000_010_000, None, 1_700_000_000_000)
    fake.statuses[BOOM] = _completed(BOOM, 1_700_000_011_000, Failure(500, "boom"), 1)
    routers = [invocations_router(fake)]
    with serve_admin(sample_registry(), InMemoryAdminBackend(), routers) as server:
        yield server, fake


def _ls(runner: CliRunner, url: str, *args: str) -> str:
    result = runner.invoke(app, ["invocations", "ls", "--admin-url", url, *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_default_lists_only_in_flight(
    runner: CliRunner, served: tuple[AdminServer, FakeInvocations]
) -> None:
    out = _ls(runner, served[0].url)
    assert RUNNING in out and OK not in out and BOOM not in out


def test_all_lists_in_flight_then_history_newest_first(
    runner: CliRunner, served: tuple[AdminServer, FakeInvocations]
) -> None:
    out = _ls(runner, served[0].url, "--all")
    assert out.index(RUNNING) < out.index(BOOM) < out.index(OK)
    assert "RESULT" in out and "failure [500]" in out and "success" in out


@pytest.mark.parametrize(
    ("status", "expect"),
    [("completed", {OK, BOOM}), ("failed", {BOOM}), ("succeeded", {OK}), ("killed", set())],
)
def test_status_filters_the_history(
    runner: CliRunner,
    served: tuple[AdminServer, FakeInvocations],
    status: str,
    expect: set[str],
) -> None:
    out = json.loads(_ls(runner, served[0].url, "--status", status, "--json"))
    found = {d["id"] for d in out["invocations"]}
    assert (
        found - {d for d, st in served[1].statuses.items() if st.status is Status.COMPLETED}
        == set()
    )
    assert found & {OK, BOOM} == expect
    assert RUNNING not in found


def test_history_pages_print_the_next_cursor(
    runner: CliRunner, served: tuple[AdminServer, FakeInvocations]
) -> None:
    out = _ls(runner, served[0].url, "--status", "completed", "--limit", "1")
    assert BOOM in out and OK not in out and "--cursor" in out
    cursor = out.split("--cursor ")[1].split(")")[0].strip()
    out = _ls(runner, served[0].url, "--status", "completed", "--limit", "1", "--cursor", cursor)
    assert OK in out and BOOM not in out


def test_history_options_need_the_history(
    runner: CliRunner, served: tuple[AdminServer, FakeInvocations]
) -> None:
    result = runner.invoke(
        app, ["invocations", "ls", "--admin-url", served[0].url, "--completed-after", "2026-01-01"]
    )
    assert result.exit_code == 1 and "--all" in result.output


def test_describe_shows_the_completion_kind(
    runner: CliRunner, served: tuple[AdminServer, FakeInvocations]
) -> None:
    result = runner.invoke(
        app, ["invocations", "describe", BOOM, "--admin-url", served[0].url, "--no-journal"]
    )
    assert result.exit_code == 0, result.output
    assert "failure" in result.stdout and "[500] boom" in result.stdout
