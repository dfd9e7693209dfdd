"""What every admin command shares: --json, exit codes by cause, uncut piped output, and the
journal timeline of ``rt invocations describe``."""

from __future__ import annotations

import io
import json

from rich.console import Console
from rich.table import Table
from typer.testing import CliRunner

from runtime.admin.invocation_models import InvocationWithJournal, JournalEntryView
from runtime.cli import app
from runtime.clicmds._common import stdout
from runtime.clicmds.invocations import journal_timeline
from tests.unit.cli.conftest import AdminServer


def test_services_ls_and_describe_as_json(runner: CliRunner, admin: AdminServer) -> None:
    result = runner.invoke(app, ["services", "ls", "--json", "--admin-url", admin.url])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert [s["name"] for s in listed["services"]] == ["Counter", "Greeter", "Hidden", "Signup"]
    assert {"name", "ty", "revision", "deployment_id", "handlers"} <= set(listed["services"][0])

    result = runner.invoke(
        app, ["services", "describe", "Counter", "--json", "--admin-url", admin.url]
    )
    assert result.exit_code == 0, result.output
    described = json.loads(result.stdout)
    assert described["name"] == "Counter" and described["ty"] == "VirtualObject"
    assert described == next(s for s in listed["services"] if s["name"] == "Counter")


def test_state_get_as_json(runner: CliRunner, admin: AdminServer) -> None:
    admin.backend.states[("Counter", "k")] = {"count": b"7", "raw": b"\xff"}
    argv = ["state", "get", "Counter", "k", "--json", "--admin-url", admin.url]
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    assert got["service"] == "Counter" and got["key"] == "k" and got["version"]
    assert got["state"] == {"count": [55], "raw": [255]}
    assert got["state_utf8"] == {"count": "7", "raw": None}


def test_exit_codes_tell_not_found_from_refused_from_unreachable(
    runner: CliRunner, admin: AdminServer, dead_url: str
) -> None:
    def code(*argv: str, url: str = admin.url) -> int:
        return runner.invoke(app, [*argv, "--admin-url", url]).exit_code

    assert code("services", "describe", "Nope") == 3
    assert code("state", "get", "Greeter", "k") == 4  # a service has no state: refused
    assert code("services", "ls", url=dead_url) == 5
    assert code("services", "ls", url="localhost:1") == 2  # not a URL: usage


def test_piped_tables_are_never_cut() -> None:
    long_id = "sub_" + "x" * 150
    table = Table(box=None)
    table.add_column("ID", no_wrap=True)
    table.add_column("SINK")
    table.add_row(long_id, "service://" + "Y" * 120 + "/handler")
    out = stdout()  # stdout is not a terminal under pytest
    with out.capture() as captured:
        out.print(table)
    lines = captured.get().splitlines()
    assert len(lines) == 2
    assert long_id in lines[1] and "Y" * 120 + "/handler" in lines[1]


def _entry(index: int, entry_type: str, cmd: int | None, **kw: object) -> JournalEntryView:
    return JournalEntryView(index=index, entry_type=entry_type, command_index=cmd, name=None, **kw)  # type: ignore[arg-type]


def test_journal_timeline_reads_as_a_timeline() -> None:
    d = InvocationWithJournal(
        id="inv_1",
        target="Greeter/greet",
        target_service_name="Greeter",
        target_service_key=None,
        target_handler_name="greet",
        target_kind="service",
        status="suspended",
        invoked_by="ingress",
        invoked_by_id=None,
        idempotency_key=None,
        created_at="2026-12-07T10:00:00+00:00",
        modified_at="2026-12-07T10:00:01+00:00",
        completed_at=None,
        scheduled_start_at=None,
        next_retry_at=None,
        retry_count=0,
        attempt=1,
        journal_size=5,
        cancel_requested=False,
        last_failure=None,
        last_failure_error_code=None,
        completion_result=None,
        completion_failure=None,
        completion_failure_code=None,
        journal=[
            _entry(0, "Command: Input", 0, value='"world"', value_size=7),
            _entry(1, "Command: Call", 1, invocation_id="inv_callee", value="1", value_size=1),
            _entry(2, "Notification: Completion", 1, result="value", value='"hi"', value_size=4),
            _entry(
                3, "Command: Run", 2, result="failure", failure_code=500, failure_message="boom"
            ),
            _entry(4, "Command: Sleep", 3, due_at="2026-12-07T10:05:00Z", pending=True),
        ],
    )
    buf = io.StringIO()
    Console(file=buf, width=200, highlight=False).print(journal_timeline(d))
    rows = [line.split() for line in buf.getvalue().splitlines()]
    assert rows[0] == ["Journal"]
    assert rows[1] == ["#", "CMD", "ENTRY", "DETAIL"]
    assert rows[2] == ["0", "0", "Input", '"world"']
    assert rows[3] == ["1", "1", "Call", "inv_callee", "1"]
    assert rows[4] == ["2", "└", "Completion", "of", "command", "1", "→", '"hi"']
    assert rows[5] == ["3", "2", "Run", "failed", "[500]", "boom"]
    assert rows[6] == ["4", "3", "Sleep", "until", "2026-12-07T10:05:00Z", "waiting"]
