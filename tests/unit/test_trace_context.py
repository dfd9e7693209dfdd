"""runtime.trace_context: W3C trace context derived from the log alone."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from runtime import trace_context as tc

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_parse_accepts_version_00_and_refuses_invalid_values() -> None:
    p = tc.parse(PARENT)
    assert p == tc.TraceParent("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "01")
    assert p is not None and p.header() == PARENT
    assert tc.parse(PARENT.upper()) == p
    for bad in (
        None,
        "",
        "garbage",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # version ff is invalid
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # zero span id
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  # short
    ):
        assert tc.parse(bad) is None


def test_callee_context_continues_the_callers_trace_under_its_span() -> None:
    headers = {"traceparent": PARENT}
    callee = tc.parse(tc.for_callee("inv_caller", headers))
    assert callee is not None
    assert callee.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert callee.span_id == tc.span_id_of("inv_caller")
    assert callee.flags == "01"
    # The callee's own span then continues the same trace.
    assert tc.trace_of("inv_callee", {"traceparent": callee.header()}) == callee.trace_id


def test_an_invocation_without_context_roots_its_own_trace() -> None:
    assert tc.trace_of("inv_a", {}) == tc.trace_id_of("inv_a")
    callee = tc.parse(tc.for_callee("inv_a", {}))
    assert callee == tc.TraceParent(tc.trace_id_of("inv_a"), tc.span_id_of("inv_a"), "01")


@given(st.text(min_size=1, max_size=60))
def test_derived_ids_are_deterministic_valid_and_distinct(inv_id: str) -> None:
    span, trace = tc.span_id_of(inv_id), tc.trace_id_of(inv_id)
    assert span == tc.span_id_of(inv_id) and trace == tc.trace_id_of(inv_id)
    assert tc.parse(tc.TraceParent(trace, span, "01").header()) is not None
    assert tc.span_id_of(inv_id + "x") != span
