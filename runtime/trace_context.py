"""W3C trace context of invocations, derived from the log alone (no OpenTelemetry here).

Every invocation belongs to a trace and has one span that stands for it from its creation
to its completion, across attempts, nodes and take-overs. So that any node can name that
span without storing it, its ids are derived from what the log holds:

- the **trace id** is the one of the invocation's ``traceparent`` header (set by the
  ingress when tracing is on, by a Kafka producer on a subscription's record, or by the
  caller's partition for a call or send); without one, it is derived from the invocation
  id, and the invocation is the root of its own trace;
- the **span id** of the invocation's span is derived from the invocation id;
- a call or send made by an invocation carries ``traceparent`` = (its trace id, its span
  id): the callee's span is the caller's child, whatever node runs either.

Pure functions of strings, used by the partition machine (deterministic: a replaying owner
derives the same headers) and by :mod:`runtime.tracing`. May not import anything of rt.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import NamedTuple

TRACEPARENT = "traceparent"
"""The W3C header (lower-case, as rt stores header names)."""

_TRACEPARENT_RE = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


class TraceParent(NamedTuple):
    """A parsed ``traceparent``: version 00 fields, ids as lower-case hex."""

    trace_id: str
    span_id: str
    flags: str

    def header(self) -> str:
        """The ``traceparent`` value."""
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"


def parse(value: str | None) -> TraceParent | None:
    """``value`` as a W3C ``traceparent``, or None when absent or invalid (then ignored, as
    the spec says: a new trace starts)."""
    if not value:
        return None
    m = _TRACEPARENT_RE.match(value.strip().lower())
    if m is None or m.group(1) == "ff":
        return None
    _, trace_id, span_id, flags = m.groups()
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    return TraceParent(trace_id, span_id, flags)


def _digest(invocation_id: str) -> str:
    return hashlib.sha256(invocation_id.encode()).hexdigest()


def span_id_of(invocation_id: str) -> str:
    """The span id (16 hex digits) of the span that stands for the invocation."""
    span = _digest(invocation_id)[:16]
    return span if span != _ZERO_SPAN else "0" * 15 + "1"


def trace_id_of(invocation_id: str) -> str:
    """The trace id (32 hex digits) of an invocation that came with no trace context."""
    return _digest(invocation_id)[16:48]


def parent_of(headers: Mapping[str, str]) -> TraceParent | None:
    """The trace context the invocation came with (its ``traceparent`` header)."""
    return parse(headers.get(TRACEPARENT))


def trace_of(invocation_id: str, headers: Mapping[str, str]) -> str:
    """The trace id of the invocation: its parent's, or derived from its id."""
    parent = parent_of(headers)
    return parent.trace_id if parent is not None else trace_id_of(invocation_id)


def for_callee(invocation_id: str, headers: Mapping[str, str]) -> str:
    """The ``traceparent`` a call or send made by the invocation carries: the caller's
    trace, the caller's invocation span as parent (sampled as the caller was)."""
    parent = parent_of(headers)
    if parent is None:
        return TraceParent(trace_id_of(invocation_id), span_id_of(invocation_id), "01").header()
    return TraceParent(parent.trace_id, span_id_of(invocation_id), parent.flags).header()
