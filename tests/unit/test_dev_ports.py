"""``rt dev`` binds its HTTP ports before announcing them: port 0 becomes a real port in
``dev.json``, a taken port is a clear error, and ingress processes can share the port."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from runtime.dev import DevRuntime, read_info
from runtime.settings import Settings


def _runtime(tmp_path: Path, **settings: object) -> DevRuntime:
    return DevRuntime(Settings(state_dir=tmp_path, **settings), [])  # type: ignore[arg-type]


def test_port_zero_becomes_the_bound_port(tmp_path: Path) -> None:
    rt = _runtime(tmp_path, ingress_port=0, admin_port=0)
    rt.bind_ports()
    try:
        s = rt.settings
        assert s.ingress_port > 0 and s.admin_port > 0 and s.ingress_port != s.admin_port
        # Held, so nobody else can take them before the servers run: not even a socket
        # with SO_REUSEADDR (a bound socket that does not listen would let it).
        for port in (s.ingress_port, s.admin_port):
            with socket.socket() as other, pytest.raises(OSError):
                other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                other.bind(("127.0.0.1", port))
                other.listen()
    finally:
        rt.close_sockets()


def test_the_same_port_twice_is_refused(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    rt = _runtime(tmp_path, ingress_port=port, admin_port=port)
    with pytest.raises(RuntimeError, match=rf"admin port 127.0.0.1:{port} is in use"):
        rt.bind_ports()
    assert rt._sockets == {}


def test_a_taken_port_is_a_clear_error_and_releases_the_other(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        rt = _runtime(tmp_path, ingress_port=0, admin_port=port)
        with pytest.raises(RuntimeError, match=rf"admin port 127.0.0.1:{port} is in use"):
            rt.bind_ports()
        assert rt._sockets == {}


def test_ingress_processes_can_bind_the_reserved_port(tmp_path: Path) -> None:
    from runtime.ingress.process import reuseport_socket

    rt = _runtime(tmp_path, ingress_port=0, admin_port=0, ingress_processes=2)
    rt.bind_ports()
    try:
        port = rt.settings.ingress_port
        with socket.socket() as other, pytest.raises(OSError):  # but nobody else
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            other.bind(("127.0.0.1", port))
            other.listen()
        children = [reuseport_socket("127.0.0.1", port) for _ in range(2)]
        for c in children:
            c.close()
    finally:
        rt.close_sockets()


def test_read_info_trusts_only_the_named_process(tmp_path: Path) -> None:
    assert read_info(tmp_path, os.getpid()) is None
    (tmp_path / "dev.json").write_text(json.dumps({"pid": os.getpid() + 1}))
    assert read_info(tmp_path, os.getpid()) is None
    (tmp_path / "dev.json").write_text('{"pid": ')
    assert read_info(tmp_path, os.getpid()) is None
    (tmp_path / "dev.json").write_text(json.dumps({"pid": os.getpid(), "ingress_url": "x"}))
    assert read_info(tmp_path, os.getpid()) == {"pid": os.getpid(), "ingress_url": "x"}
