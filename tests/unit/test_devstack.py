"""Pure parts of the local stack."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.devstack import process
from runtime.devstack.kafka import _cluster_id


def test_cluster_ids_never_look_like_cli_options() -> None:
    ids = {_cluster_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)


def _starter(tmp_path: Path, failures: list[str]) -> tuple[list[int], list[int], Path]:
    """A start that fails with the given log lines (one per attempt), then succeeds."""
    tmp_path.mkdir(exist_ok=True)
    log = tmp_path / "child.log"
    starts: list[int] = []
    forgotten: list[int] = []

    def start_once() -> None:
        starts.append(1)
        if len(starts) <= len(failures):
            with log.open("a") as f:
                f.write(failures[len(starts) - 1] + "\n")
            raise RuntimeError("child exited during start-up")

    process.start_on_picked_ports(
        start_once, picked=True, forget_ports=lambda: forgotten.append(1), logs=[log]
    )
    return starts, forgotten, log


def test_a_start_that_lost_its_picked_port_is_retried_on_new_ports(tmp_path: Path) -> None:
    starts, forgotten, _ = _starter(tmp_path, ["java.net.BindException: Address already in use"])
    assert (len(starts), len(forgotten)) == (2, 1)


def test_other_start_failures_and_configured_ports_are_not_retried(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        _starter(tmp_path, ["OutOfMemoryError"])
    log = tmp_path / "c.log"
    log.write_text("Address already in use")

    def fail() -> None:
        raise RuntimeError("exited")

    with pytest.raises(RuntimeError):  # the user chose the port: say so, do not move it
        process.start_on_picked_ports(fail, picked=False, forget_ports=lambda: None, logs=[log])
    with pytest.raises(RuntimeError):  # bounded
        _starter(tmp_path / "bounded", ["Address already in use"] * 3)


def test_an_old_port_clash_in_the_log_does_not_count(tmp_path: Path) -> None:
    """The logs are appended to across runs: only what this start wrote is read."""
    log = tmp_path / "child.log"
    log.write_text("an earlier run: Address already in use\n")

    def fail() -> None:
        with log.open("a") as f:
            f.write("java.io.IOException: the data dir is locked\n")
        raise RuntimeError("exited")

    forgotten: list[int] = []
    with pytest.raises(RuntimeError):
        process.start_on_picked_ports(
            fail, picked=True, forget_ports=lambda: forgotten.append(1), logs=[log]
        )
    assert forgotten == []
