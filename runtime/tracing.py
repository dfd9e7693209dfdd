"""OpenTelemetry traces of the node: the ingress request, each invocation, each attempt.

Off unless the standard variables ask for it (:func:`configure`): ``OTEL_TRACES_EXPORTER``
(``otlp`` or ``console``) or an OTLP endpoint (``OTEL_EXPORTER_OTLP_ENDPOINT`` /
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``; OTLP over HTTP/protobuf), and not
``OTEL_SDK_DISABLED=true``. The exporter, batching, headers, resource and sampler are
the SDK's own, read from the other ``OTEL_*`` variables. Off, every function here returns
at its first line.

The spans (names and attributes in docs/observability.md):

- ``ingress``: one per ingress request naming a handler (SERVER kind), child of the
  request's ``traceparent``; the invocation it creates carries this span as its parent.
- the **invocation** span: from the invocation's creation to its completion, emitted once
  when the completion is applied (by the partition, after its Redis apply, never for a
  re-delivered record), with the ids :mod:`runtime.trace_context` derives from the log, so
  the callee invocations and the attempts that name it as parent, on any node, nest
  under it.
- the **attempt** span: one per attempt run in this process, child of its invocation's
  span; the handler runs in its context, so spans a user's handler starts nest under it.

Owns the tracer provider it installs (the process's global one, so the user's spans reach
the same exporter). May not import other runtime modules but :mod:`runtime.trace_context`.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import random
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)

from runtime import trace_context as tc

log = logging.getLogger("rt.tracing")

_tracer: trace.Tracer | None = None
_provider: TracerProvider | None = None

_forced: contextvars.ContextVar[tuple[int | None, int | None] | None] = contextvars.ContextVar(
    "rt_forced_span_ids", default=None
)


class TracingConfigError(ValueError):
    """The OTEL_* variables ask for something rt cannot do."""


class _LogDerivedIds(IdGenerator):
    """Random ids, except for the spans whose ids rt derives from the log (forced here)."""

    def generate_span_id(self) -> int:
        forced = _forced.get()
        if forced is not None and forced[1] is not None:
            return forced[1]
        return random.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        forced = _forced.get()
        if forced is not None and forced[0] is not None:
            return forced[0]
        return random.getrandbits(128) or 1


def requested(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the OTEL_* variables ask for traces."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter != "none"
    return bool(
        env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def _exporter(env: Mapping[str, str]) -> SpanExporter:
    name = env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() or "otlp"
    if name == "console":
        return ConsoleSpanExporter()
    if name != "otlp":
        raise TracingConfigError(
            f"OTEL_TRACES_EXPORTER={name!r} is not supported: use otlp or console"
        )
    protocol = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    if protocol != "http/protobuf":
        raise TracingConfigError(
            f"OTLP protocol {protocol!r} is not supported: rt exports traces over "
            "http/protobuf (set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf)"
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def configure(
    environ: Mapping[str, str] | None = None, exporter: SpanExporter | None = None
) -> bool:
    """Turn tracing on if the OTEL_* variables ask for it (or an exporter is given).

    Args:
        environ: The variables (default ``os.environ``).
        exporter: Export to this instead (tests: an in-memory exporter).

    Returns:
        Whether tracing is on.

    Raises:
        TracingConfigError: The variables name an exporter or protocol rt does not have.
    """
    global _tracer, _provider
    env = os.environ if environ is None else environ
    if _tracer is not None:
        return True
    if exporter is None:
        if not requested(env):
            return False
        exporter = _exporter(env)
    resource = Resource.create({SERVICE_NAME: env.get("OTEL_SERVICE_NAME", "rt")})
    provider = TracerProvider(resource=resource, id_generator=_LogDerivedIds())
    provider.add_span_processor(BatchSpanProcessor(exporter))
    with contextlib.suppress(Exception):  # an application may have set one already
        trace.set_tracer_provider(provider)
    _provider = provider
    _tracer = provider.get_tracer("rt")
    log.info("tracing on: spans exported by %s", type(exporter).__name__)
    return True


def shutdown() -> None:
    """Export what is buffered and turn tracing off (the node stops)."""
    global _tracer, _provider
    if _provider is not None:
        _provider.shutdown()
    _tracer = _provider = None


def enabled() -> bool:
    """Whether spans are recorded."""
    return _tracer is not None


def _parent(parent: tc.TraceParent | None) -> otel_context.Context | None:
    if parent is None:
        return None
    ctx = SpanContext(
        int(parent.trace_id, 16),
        int(parent.span_id, 16),
        is_remote=True,
        trace_flags=TraceFlags(int(parent.flags, 16) & 1),
    )
    return trace.set_span_in_context(NonRecordingSpan(ctx))


def _invocation_parent(invocation_id: str, headers: Mapping[str, str]) -> otel_context.Context:
    """The context whose span is the invocation's (for its attempts)."""
    incoming = tc.parent_of(headers)
    flags = incoming.flags if incoming is not None else "01"
    own = tc.TraceParent(tc.trace_of(invocation_id, headers), tc.span_id_of(invocation_id), flags)
    ctx = _parent(own)
    assert ctx is not None
    return ctx


def _attributes(invocation_id: str, service: str, handler: str, key: str | None) -> dict[str, Any]:
    target = f"{service}/{key}/{handler}" if key is not None else f"{service}/{handler}"
    return {
        "rt.invocation.id": invocation_id,
        "rt.invocation.target": target,
        "rpc.service": service,
        "rpc.method": handler,
    }


class IngressSpan:
    """The span of one ingress request; :attr:`traceparent` goes into the Invoke's headers."""

    def __init__(self, span: trace.Span) -> None:
        self.span = span
        ctx = span.get_span_context()
        self.traceparent = tc.TraceParent(
            format(ctx.trace_id, "032x"),
            format(ctx.span_id, "016x"),
            format(ctx.trace_flags, "02x"),
        ).header()

    def end(self, status: int) -> None:
        """The request was answered with HTTP ``status``."""
        self.span.set_attribute("http.response.status_code", status)
        if status >= 500:
            self.span.set_status(Status(StatusCode.ERROR))
        self.span.end()


def ingress_span(
    method: str, service: str, handler: str, traceparent: str | None
) -> IngressSpan | None:
    """Start the span of an ingress request for ``service``/``handler`` (None when off)."""
    tracer = _tracer
    if tracer is None:
        return None
    span = tracer.start_span(
        f"ingress {service}/{handler}",
        context=_parent(tc.parse(traceparent)),
        kind=SpanKind.SERVER,
        attributes={"http.request.method": method, "rpc.service": service, "rpc.method": handler},
    )
    return IngressSpan(span)


@contextlib.contextmanager
def attempt(
    invocation_id: str,
    service: str,
    handler: str,
    key: str | None,
    attempt_number: int,
    headers: Mapping[str, str],
) -> Iterator[None]:
    """Run an attempt inside its span (current for the block: the handler's own spans nest
    under it). Does nothing when tracing is off."""
    tracer = _tracer
    if tracer is None:
        yield
        return
    attrs = _attributes(invocation_id, service, handler, key)
    attrs["rt.attempt"] = attempt_number
    span = tracer.start_span(
        f"attempt {service}/{handler}",
        context=_invocation_parent(invocation_id, headers),
        kind=SpanKind.INTERNAL,
        attributes=attrs,
    )
    token = otel_context.attach(trace.set_span_in_context(span))
    try:
        yield
    except BaseException as e:
        span.record_exception(e)
        span.set_status(Status(StatusCode.ERROR, type(e).__name__))
        raise
    finally:
        otel_context.detach(token)
        span.end()


def invocation_completed(
    invocation_id: str,
    service: str,
    handler: str,
    key: str | None,
    headers: Mapping[str, str],
    created_ms: int,
    completed_ms: int,
    failure: tuple[int, str] | None,
) -> None:
    """Emit the invocation's span (once: its completion was just applied)."""
    tracer = _tracer
    if tracer is None:
        return
    incoming = tc.parent_of(headers)
    trace_id = int(tc.trace_of(invocation_id, headers), 16)
    span_id = int(tc.span_id_of(invocation_id), 16)
    attrs = _attributes(invocation_id, service, handler, key)
    attrs["rt.invocation.outcome"] = "success" if failure is None else "failure"
    token = _forced.set((trace_id, span_id))
    try:
        span = tracer.start_span(
            f"invoke {service}/{handler}",
            context=_parent(incoming) or otel_context.Context(),
            kind=SpanKind.SERVER,
            attributes=attrs,
            start_time=created_ms * 1_000_000,
        )
    finally:
        _forced.reset(token)
    if failure is not None:
        span.set_attribute("rt.failure.code", failure[0])
        span.set_status(Status(StatusCode.ERROR, failure[1]))
    span.end(end_time=max(created_ms, completed_ms) * 1_000_000)
