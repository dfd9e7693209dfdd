"""Log set-up: levels, plain and JSON lines, and the setting's validation."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from runtime import logs
from runtime.settings import Settings


@pytest.fixture(autouse=True)
def _restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_plain_lines_carry_time_level_logger_and_role(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("intake", level="info", json_lines=False)
    logging.getLogger("rt.processor").info("partition %d: leading", 3)
    logging.getLogger("rt.processor").debug("not shown")
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].endswith(f"INFO rt.processor [intake {os.getpid()}] partition 3: leading")


def test_json_lines_parse_and_include_the_exception(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure(level="WARNING", json_lines=True)
    log = logging.getLogger("rt.test")
    log.info("dropped")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed %s", "x")
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    doc = json.loads(lines[0])
    assert doc["level"] == "ERROR" and doc["logger"] == "rt.test" and doc["message"] == "failed x"
    assert "ValueError: boom" in doc["exc"] and doc["ts"].endswith("Z")


def test_environment_decides_when_not_given(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RT_LOG_LEVEL", "error")
    monkeypatch.setenv("RT_LOG_JSON", "1")
    logs.configure()
    logging.getLogger("rt.x").warning("dropped")
    logging.getLogger("rt.x").error("kept")
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert json.loads(line)["message"] == "kept"


def test_setting_rejects_unknown_levels_and_normalises_case() -> None:
    assert Settings(log_level="debug").log_level == "DEBUG"
    with pytest.raises(ValidationError, match="log_level must be one of"):
        Settings(log_level="chatty")


def test_lines_logged_in_an_attempt_name_the_invocation(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure(level="INFO", json_lines=True)
    log = logging.getLogger("user.handler")
    with logs.invocation("inv_1abc", "Counter/k/add"):
        log.info("adding")
    log.info("outside")
    log.info("explicit", extra={"invocation_id": "inv_2", "target": "Greeter/greet"})
    docs = [json.loads(line) for line in capsys.readouterr().err.strip().splitlines()]
    assert [(d["message"], d.get("invocation_id"), d.get("target")) for d in docs] == [
        ("adding", "inv_1abc", "Counter/k/add"),
        ("outside", None, None),
        ("explicit", "inv_2", "Greeter/greet"),
    ]

    logs.configure(level="INFO", json_lines=False)
    with logs.invocation("inv_1abc", "Counter/k/add"):
        log.warning("plain")
    log.warning("bare")
    plain, bare = capsys.readouterr().err.strip().splitlines()
    assert plain.endswith("WARNING user.handler [inv_1abc Counter/k/add] plain")
    assert bare.endswith("WARNING user.handler bare")
