"""The ingress's request metrics: each answered request counted and timed by target.

The dispatcher names the request's target in the ASGI scope (under
:data:`TARGET_SCOPE_KEY`) once the path resolved to a registered handler; the
app records every answer with :func:`answered`. Owns that scope key only; the
metrics are :mod:`runtime.metrics`'s.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from runtime.metrics import INGRESS_DURATION, INGRESS_REQUESTS, labelled

TARGET_SCOPE_KEY = "rt.target"
"""ASGI scope key holding ``(service, handler)`` of a request that names a handler."""

_NO_TARGET = ("", "")


def answered(scope: MutableMapping[str, Any], status: int, seconds: float) -> None:
    """Record one request answered with ``status`` after ``seconds``."""
    service, handler = scope.get(TARGET_SCOPE_KEY, _NO_TARGET)
    labelled(INGRESS_REQUESTS, service, handler, str(status)).inc()
    labelled(INGRESS_DURATION, service, handler).observe(seconds)
