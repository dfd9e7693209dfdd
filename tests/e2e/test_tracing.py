"""Traces over the wire: a real OTLP/HTTP receiver gets the spans of a call that calls another."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from runtime import trace_context as tc
from tests.conftest import Infra
from tests.e2e.conftest import APPS, RtNode

PARENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN = "00f067aa0ba902b7"


class Receiver:
    """An OTLP/HTTP trace receiver: ``POST /v1/traces`` with an ExportTraceServiceRequest."""

    def __init__(self) -> None:
        self.spans: list[dict[str, object]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["content-length"]))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                with receiver.lock:
                    for rs in request.resource_spans:
                        service = next(
                            a.value.string_value
                            for a in rs.resource.attributes
                            if a.key == "service.name"
                        )
                        for ss in rs.scope_spans:
                            for s in ss.spans:
                                receiver.spans.append(
                                    {
                                        "service": service,
                                        "name": s.name,
                                        "trace": s.trace_id.hex(),
                                        "span": s.span_id.hex(),
                                        "parent": s.parent_span_id.hex(),
                                        "attrs": {
                                            a.key: a.value.string_value or a.value.int_value
                                            for a in s.attributes
                                        },
                                    }
                                )
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, names: set[str], timeout: float = 30) -> list[dict[str, object]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                got = list(self.spans)
            if names <= {str(s["name"]) for s in got}:
                return got
            time.sleep(0.2)
        raise AssertionError(f"spans {names} not all received: {[s['name'] for s in got]}")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def test_spans_of_a_call_chain_arrive_over_otlp(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode], receiver: Receiver
) -> None:
    node = RtNode(
        infra,
        prefix,
        APPS / "traced_app.py",
        tmp_path,
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
        OTEL_BSP_SCHEDULE_DELAY="100",
        OTEL_SERVICE_NAME="rt-e2e",
    )
    nodes.append(node.start())
    r = httpx.post(
        f"{node.url}/Front/work",
        content="20",
        headers={
            "content-type": "application/json",
            "traceparent": f"00-{PARENT_TRACE}-{PARENT_SPAN}-01",
        },
        timeout=30,
    )
    assert r.status_code == 200 and r.json() == 41
    front_id = r.headers["x-restate-id"]
    spans = receiver.wait_for(
        {
            "ingress Front/work",
            "invoke Front/work",
            "attempt Front/work",
            "user span",
            "invoke Back/leaf",
            "attempt Back/leaf",
        }
    )
    by_name: dict[str, list[dict[str, object]]] = {}
    for s in spans:
        by_name.setdefault(str(s["name"]), []).append(s)
    # One trace, the caller's; no span twice.
    assert {s["trace"] for s in spans} == {PARENT_TRACE}
    assert len({s["span"] for s in spans}) == len(spans)
    assert {s["service"] for s in spans} == {"rt-e2e"}
    (ingress,) = by_name["ingress Front/work"]
    (front,) = by_name["invoke Front/work"]
    (back,) = by_name["invoke Back/leaf"]
    assert ingress["parent"] == PARENT_SPAN
    assert front["parent"] == ingress["span"]
    assert front["span"] == tc.span_id_of(front_id)
    assert front["attrs"] == {
        "rt.invocation.id": front_id,
        "rt.invocation.target": "Front/work",
        "rpc.service": "Front",
        "rpc.method": "work",
        "rt.invocation.outcome": "success",
    }
    # The callee nests under the caller's invocation span, though another partition runs it.
    assert back["parent"] == front["span"]
    assert back["span"] == tc.span_id_of(str(back["attrs"]["rt.invocation.id"]))
    for attempt in by_name["attempt Front/work"]:
        assert attempt["parent"] == front["span"]
    for attempt in by_name["attempt Back/leaf"]:
        assert attempt["parent"] == back["span"]
    (user,) = by_name["user span"]
    assert user["parent"] in {a["span"] for a in by_name["attempt Front/work"]}
    # Invocation spans are emitted once each, when their completion is applied.
    assert len(by_name["invoke Front/work"]) == len(by_name["invoke Back/leaf"]) == 1


def test_an_unsupported_exporter_stops_rt_dev_before_it_starts(tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "runtime.cli", "dev", str(APPS / "traced_app.py"),
         "--state-dir", str(tmp_path / "s")],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "OTEL_TRACES_EXPORTER": "zipkin"},
    )  # fmt: skip
    assert res.returncode == 2
    assert "OTEL_TRACES_EXPORTER='zipkin' is not supported: use otlp or console" in res.stderr
    assert not (tmp_path / "s" / "dev.json").exists()  # nothing was started
