"""runtime.tracing with the SDK's in-memory exporter: the spans, their ids and nesting."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from runtime import trace_context as tc
from runtime import tracing

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACE = int("4bf92f3577b34da6a3ce929d0e0e4736", 16)


@pytest.fixture(scope="module")
def exported() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    assert tracing.configure(environ={}, exporter=exporter)
    yield exporter
    tracing.shutdown()
    assert not tracing.enabled()


def _flush() -> None:
    provider = trace.get_tracer_provider()
    provider.force_flush()  # type: ignore[attr-defined]


def test_off_unless_the_variables_ask() -> None:
    assert not tracing.requested({})
    assert tracing.requested({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert tracing.requested({"OTEL_TRACES_EXPORTER": "console"})
    assert not tracing.requested({"OTEL_TRACES_EXPORTER": "none"})
    assert not tracing.requested(
        {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}
    )


def test_unsupported_exporters_are_clear_errors() -> None:
    with pytest.raises(tracing.TracingConfigError, match="OTEL_TRACES_EXPORTER='zipkin'"):
        tracing._exporter({"OTEL_TRACES_EXPORTER": "zipkin"})
    with pytest.raises(tracing.TracingConfigError, match="http/protobuf"):
        tracing._exporter({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})


def test_ingress_invocation_and_attempt_spans_nest(exported: InMemorySpanExporter) -> None:
    exported.clear()
    ingress = tracing.ingress_span("POST", "Greeter", "greet", PARENT)
    assert ingress is not None
    headers = {"traceparent": ingress.traceparent}
    with (
        tracing.attempt("inv_1", "Greeter", "greet", None, 1, headers),
        trace.get_tracer("user").start_as_current_span("user work"),
    ):
        pass
    with (
        pytest.raises(RuntimeError),
        tracing.attempt("inv_1", "Greeter", "greet", None, 2, headers),
    ):
        raise RuntimeError("boom")
    tracing.invocation_completed("inv_1", "Greeter", "greet", None, headers, 1_000, 1_250, None)
    ingress.end(200)
    _flush()
    spans = {s.name + (f" #{s.attributes.get('rt.attempt')}" if "attempt" in s.name else ""): s
             for s in exported.get_finished_spans()}  # fmt: skip
    assert set(spans) == {
        "ingress Greeter/greet",
        "attempt Greeter/greet #1",
        "attempt Greeter/greet #2",
        "user work",
        "invoke Greeter/greet",
    }
    assert all(s.context.trace_id == TRACE for s in spans.values())
    ing, inv = spans["ingress Greeter/greet"], spans["invoke Greeter/greet"]
    assert ing.parent is not None and ing.parent.span_id == int("00f067aa0ba902b7", 16)
    # The invocation's span has the id derived from its invocation id, under the ingress.
    assert inv.context.span_id == int(tc.span_id_of("inv_1"), 16)
    assert inv.parent is not None and inv.parent.span_id == ing.context.span_id
    assert (inv.start_time, inv.end_time) == (1_000 * 10**6, 1_250 * 10**6)
    assert inv.attributes is not None and inv.attributes["rt.invocation.id"] == "inv_1"
    assert inv.attributes["rt.invocation.target"] == "Greeter/greet"
    assert inv.attributes["rpc.service"] == "Greeter" and inv.attributes["rpc.method"] == "greet"
    for n in (1, 2):
        att = spans[f"attempt Greeter/greet #{n}"]
        assert att.parent is not None and att.parent.span_id == inv.context.span_id
    user = spans["user work"]
    assert user.parent is not None
    assert user.parent.span_id == spans["attempt Greeter/greet #1"].context.span_id
    assert not spans["attempt Greeter/greet #2"].status.is_ok


def test_a_failed_invocation_without_context_roots_its_trace(
    exported: InMemorySpanExporter,
) -> None:
    exported.clear()
    tracing.invocation_completed("inv_2", "Counter", "add", "k", {}, 5, 7, (500, "boom"))
    _flush()
    (span,) = exported.get_finished_spans()
    assert span.parent is None
    assert span.context.trace_id == int(tc.trace_id_of("inv_2"), 16)
    assert span.context.span_id == int(tc.span_id_of("inv_2"), 16)
    assert span.attributes is not None
    assert span.attributes["rt.invocation.target"] == "Counter/k/add"
    assert span.attributes["rt.invocation.outcome"] == "failure"
    assert not span.status.is_ok
