"""``rt services ls`` and ``rt services describe`` against a served admin API."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from runtime.cli import app
from runtime.registry import Registry
from tests.unit.admin.fakes import InMemoryAdminBackend
from tests.unit.cli.conftest import AdminServer, serve_admin


def test_ls_table(runner: CliRunner, admin: AdminServer) -> None:
    result = runner.invoke(app, ["services", "ls", "--admin-url", admin.url])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert re.split(r"\s{2,}", lines[0].strip()) == [
        "NAME",
        "REVISION",
        "FLAVOR",
        "DEPLOYMENT-TYPE",
        "DEPLOYMENT-ID",
        "ENDPOINT",
    ]
    rows = [re.split(r"\s{2,}", line.strip()) for line in lines[1:]]
    assert rows == [
        ["Counter", "1", "VirtualObject", "in-process", "dp_inprocess", "-"],
        ["Greeter", "1", "Service", "in-process", "dp_inprocess", "-"],
        ["Hidden", "1", "Service", "in-process", "dp_inprocess", "-"],
        ["Signup", "1", "Workflow", "in-process", "dp_inprocess", "-"],
    ]


def test_admin_url_from_env_and_aliases(runner: CliRunner, admin: AdminServer) -> None:
    for argv in (["services", "ls"], ["services", "list"], ["svc", "ls"]):
        result = runner.invoke(app, argv, env={"RT_ADMIN_URL": admin.url})
        assert result.exit_code == 0, result.output
        assert "Counter" in result.stdout


def test_ls_without_services(runner: CliRunner) -> None:
    with serve_admin(Registry(), InMemoryAdminBackend()) as server:
        result = runner.invoke(app, ["services", "ls", "--admin-url", server.url])
    assert result.exit_code == 0
    assert "No services are registered" in result.stdout


def test_unreachable_admin_api(runner: CliRunner, dead_url: str) -> None:
    result = runner.invoke(app, ["services", "ls", "--admin-url", dead_url])
    assert result.exit_code == 5  # unreachable
    assert result.stdout == ""
    assert f"cannot reach the rt admin API at {dead_url} — is `rt dev` running?" in result.stderr


def test_malformed_admin_url(runner: CliRunner) -> None:
    result = runner.invoke(app, ["services", "ls", "--admin-url", "localhost:9070"])
    assert result.exit_code == 2
    assert "invalid admin URL 'localhost:9070'" in result.stderr


def test_describe(runner: CliRunner, admin: AdminServer) -> None:
    result = runner.invoke(app, ["services", "describe", "Counter", "--admin-url", admin.url])
    assert result.exit_code == 0, result.output
    out = result.stdout
    for expected in (
        "Service Information",
        "Service type:",
        "VirtualObject",
        "dp_inprocess",
        "in-process",
        "Idempotency retention:",
        "1day",
        "Abort timeout:",
        "1m 30s 500ms",
        "Handlers",
    ):
        assert expected in out
    handler_rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "Exclusive" in handler_rows["add"]
    assert "JSON integer" in handler_rows["add"]
    assert "Shared" in handler_rows["get"]
    # Brackets in descriptions are shown, not taken for rich markup.
    assert 'one of ["none", "application/json"]' in handler_rows["get"]


def test_describe_workflow_shows_retention(runner: CliRunner, admin: AdminServer) -> None:
    result = runner.invoke(app, ["services", "describe", "Signup", "--admin-url", admin.url])
    assert result.exit_code == 0, result.output
    assert "Workflow retention:" in result.stdout
    assert "7days" in result.stdout


def test_describe_unknown_service(runner: CliRunner, admin: AdminServer) -> None:
    result = runner.invoke(app, ["services", "describe", "Nope", "--admin-url", admin.url])
    assert result.exit_code == 3  # not found
    assert "error: The requested service 'Nope' does not exist (HTTP 404)" in result.stderr


def test_describe_needs_a_name(runner: CliRunner) -> None:
    result = runner.invoke(app, ["services", "describe"])
    assert result.exit_code == 2
    assert "Missing argument 'NAME'" in result.stderr
