"""``rt state get|set|clear`` against a served admin API."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner, Result

from runtime.cli import app
from tests.unit.cli.conftest import AdminServer


def invoke(runner: CliRunner, admin: AdminServer, *argv: str, stdin: str | None = None) -> Result:
    return runner.invoke(app, [*argv, "--admin-url", admin.url], input=stdin)


# --- get -------------------------------------------------------------------------------------


def test_get_table(runner: CliRunner, admin: AdminServer) -> None:
    admin.backend.states[("Counter", "a/b")] = {
        "count": b"5",
        "user": json.dumps({"name": "Zoë"}).encode(),
        "note": b"plain text",
    }
    result = invoke(runner, admin, "state", "get", "Counter", "a/b")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "State" in out
    assert "a/b" in out
    assert out.index("KEY") < out.index("VALUE")
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert rows["count"].split()[1] == "5"
    assert rows["note"].split(None, 1)[1].strip() == "plain text"
    assert '"name": "Zoë"' in out


def test_get_plain(runner: CliRunner, admin: AdminServer) -> None:
    admin.backend.states[("Counter", "k")] = {"count": b"5", "tags": b'["a", "b"]'}
    result = invoke(runner, admin, "state", "get", "Counter", "k", "--plain")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"count": 5, "tags": ["a", "b"]}
    assert len(result.stdout.strip().splitlines()) == 1


def test_get_plain_empty(runner: CliRunner, admin: AdminServer) -> None:
    result = invoke(runner, admin, "state", "get", "Signup", "wf", "--plain")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {}


def test_get_plain_needs_json_or_binary(runner: CliRunner, admin: AdminServer) -> None:
    admin.backend.states[("Counter", "k")] = {"raw": b"\xff\x00"}
    result = invoke(runner, admin, "state", "get", "Counter", "k", "--plain")
    assert result.exit_code == 1
    assert "the value of state key 'raw' is not UTF-8 JSON; pass --binary" in result.stderr

    result = invoke(runner, admin, "state", "get", "Counter", "k", "--plain", "--binary")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"raw": "_wA="}

    table = invoke(runner, admin, "state", "get", "Counter", "k")
    assert table.exit_code == 0
    assert "<2 bytes, base64 _wA=>" in table.stdout


def test_get_empty_table(runner: CliRunner, admin: AdminServer) -> None:
    result = invoke(runner, admin, "state", "get", "Counter", "nobody")
    assert result.exit_code == 0
    assert "(no state for Counter/nobody)" in result.stdout


def test_get_unknown_and_stateless_services(runner: CliRunner, admin: AdminServer) -> None:
    result = invoke(runner, admin, "state", "get", "Nope", "k")
    assert result.exit_code == 3  # not found
    assert "The requested service 'Nope' does not exist (HTTP 404)" in result.stderr

    result = invoke(runner, admin, "state", "get", "Greeter", "k")
    assert result.exit_code == 4  # refused
    assert "only virtual objects and workflows have state" in result.stderr


def test_get_unreachable(runner: CliRunner, dead_url: str) -> None:
    result = runner.invoke(app, ["state", "get", "Counter", "k", "--admin-url", dead_url])
    assert result.exit_code == 5  # unreachable
    assert f"cannot reach the rt admin API at {dead_url}" in result.stderr


# --- set -------------------------------------------------------------------------------------


def test_set_with_yes_encodes_json_values(runner: CliRunner, admin: AdminServer) -> None:
    admin.backend.states[("Counter", "k")] = {"count": b"1", "old": b"true"}
    result = invoke(
        runner, admin, "state", "set", "Counter", "k", '{"count": 5, "who": {"n": "Zoë"}}', "--yes"
    )
    assert result.exit_code == 0, result.output
    assert admin.backend.states[("Counter", "k")] == {
        "count": b"5",
        "who": json.dumps({"n": "Zoë"}).encode(),
    }
    out = result.stdout
    assert "1 added, 1 changed, 1 removed" in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert rows["count"].split() == ["count", "1", "5", "changed"]
    assert rows["old"].split() == ["old", "true", "removed"]
    assert "enqueued" in out


def test_set_merge_keeps_other_keys(runner: CliRunner, admin: AdminServer) -> None:
    admin.backend.states[("Counter", "k")] = {"count": b"1", "old": b"true"}
    result = invoke(runner, admin, "state", "set", "Counter", "k", '{"count": 2}', "--merge", "-y")
    assert result.exit_code == 0, result.output
    assert admin.backend.states[("Counter", "k")] == {"count": b"2", "old": b"true"}


def test_set_nothing_to_change(runner: CliRunner, admin: AdminServer) -> None:
    admin.backend.states[("Counter", "k")] = {"count": b"5"}
    result = invoke(runner, admin, "state", "set", "Counter", "k", '{"count": 5}', "--yes")
    assert result.exit_code == 0, result.output
    assert "Nothing to change" in result.stdout
    assert admin.backend.writes == []


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ("{count: 5}", "JSON_OBJECT is not valid JSON: Expecting property name"),
        ("", "JSON_OBJECT is not valid JSON"),
        ("[1, 2]", "JSON_OBJECT must be a JSON object of state keys to values"),
        ("5", "not a JSON number"),
        ('"x"', "not a JSON string"),
        ("null", "not a JSON null"),
    ],
)
def test_set_rejects_bad_json(
    runner: CliRunner, admin: AdminServer, arg: str, message: str
) -> None:
    result = invoke(runner, admin, "state", "set", "Counter", "k", arg, "--yes")
    assert result.exit_code == 2
    assert message in result.stderr
    assert admin.backend.writes == []


def test_set_unknown_service(runner: CliRunner, admin: AdminServer) -> None:
    result = invoke(runner, admin, "state", "set", "Nope", "k", '{"a": 1}', "--yes")
    assert result.exit_code == 3
    assert "The requested service 'Nope' does not exist" in result.stderr


def test_set_plain_service(runner: CliRunner, admin: AdminServer) -> None:
    result = invoke(runner, admin, "state", "set", "Greeter", "k", '{"a": 1}', "--yes")
    assert result.exit_code == 4
    assert "only virtual objects and workflows have state" in result.stderr


def test_set_without_yes_and_without_tty(runner: CliRunner, admin: AdminServer) -> None:
    result = invoke(runner, admin, "state", "set", "Counter", "k", '{"count": 5}')
    assert result.exit_code == 2
    assert "stdin is not a terminal" in result.stderr
    assert "pass --yes" in result.stderr
    # What would change is still shown.
    assert "added" in result.stdout
    assert admin.backend.writes == []


def test_set_confirmed_interactively(
    runner: CliRunner, admin: AdminServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("runtime.clicmds.state.stdin_is_tty", lambda: True)
    result = invoke(runner, admin, "state", "set", "Counter", "k", '{"count": 5}', stdin="y\n")
    assert result.exit_code == 0, result.output
    assert "Are you sure you want to apply those changes?" in result.stdout
    assert admin.backend.states[("Counter", "k")] == {"count": b"5"}


def test_set_declined_interactively(
    runner: CliRunner, admin: AdminServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("runtime.clicmds.state.stdin_is_tty", lambda: True)
    result = invoke(runner, admin, "state", "set", "Counter", "k", '{"count": 5}', stdin="n\n")
    assert result.exit_code == 1
    assert "aborted; nothing was changed" in result.stderr
    assert admin.backend.writes == []


def test_set_loses_to_a_concurrent_change(runner: CliRunner, admin: AdminServer) -> None:
    states = admin.backend.states
    states[("Counter", "k")] = {"count": b"1"}

    def handler_writes(service: str, key: str) -> None:
        states[(service, key)] = {"count": b"2"}
        admin.backend.after_get = None

    admin.backend.after_get = handler_writes
    result = invoke(runner, admin, "state", "set", "Counter", "k", '{"count": 9}', "--yes")
    assert result.exit_code == 1
    assert "the state of Counter/k changed since it was read; nothing was written" in (
        result.stderr
    )
    assert states[("Counter", "k")] == {"count": b"2"}


def test_set_backend_failure(runner: CliRunner, admin: AdminServer) -> None:
    admin.backend.fail_with = ConnectionError("kafka is down")
    result = invoke(runner, admin, "state", "set", "Counter", "k", '{"a": 1}', "--yes")
    assert result.exit_code == 1
    assert "ConnectionError: kafka is down (HTTP 500)" in result.stderr


# --- clear -----------------------------------------------------------------------------------


def test_clear_with_yes(runner: CliRunner, admin: AdminServer) -> None:
    admin.backend.states[("Signup", "wf-1")] = {"a": b"1", "b": b"2"}
    result = invoke(runner, admin, "state", "clear", "Signup", "wf-1", "--yes")
    assert result.exit_code == 0, result.output
    assert "Going to remove all 2 state entries of Signup/wf-1" in result.stdout
    assert admin.backend.states[("Signup", "wf-1")] == {}
    assert admin.backend.writes == [("Signup", "wf-1", {})]


def test_clear_without_state(runner: CliRunner, admin: AdminServer) -> None:
    result = invoke(runner, admin, "state", "clear", "Counter", "k", "--yes")
    assert result.exit_code == 0
    assert "Counter/k has no state; nothing to clear." in result.stdout
    assert admin.backend.writes == []


def test_clear_without_yes_and_without_tty(runner: CliRunner, admin: AdminServer) -> None:
    admin.backend.states[("Counter", "k")] = {"a": b"1"}
    result = invoke(runner, admin, "state", "clear", "Counter", "k")
    assert result.exit_code == 2
    assert "pass --yes" in result.stderr
    assert admin.backend.states[("Counter", "k")] == {"a": b"1"}


def test_clear_unknown_service(runner: CliRunner, admin: AdminServer) -> None:
    result = invoke(runner, admin, "kv", "clear", "Nope", "k", "--yes")
    assert result.exit_code == 3
    assert "'Nope' does not exist" in result.stderr


def test_long_values_are_pretty_printed(runner: CliRunner, admin: AdminServer) -> None:
    long = {f"field{i}": i for i in range(10)}
    admin.backend.states[("Counter", "k")] = {"long": json.dumps(long).encode()}
    result = invoke(runner, admin, "state", "get", "Counter", "k")
    assert result.exit_code == 0
    assert '  "field9": 9' in result.stdout
