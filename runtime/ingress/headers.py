"""Request headers: what the handler gets to see, and the ones the ingress itself reads.

Handlers see the caller's headers (``ctx.request().headers``), as in Restate:
all of them except the hop-by-hop ``connection`` and ``host`` and the two
idempotency headers, which the runtime consumes, plus a synthetic
``x-restate-ingress-path`` with the original path and query (set by the
ingress, so a client cannot forge it).
"""

from __future__ import annotations

from collections.abc import Iterable

from runtime.ingress.errors import IngressError

IDEMPOTENCY_KEY = "idempotency-key"
IDEMPOTENCY_EXPIRES = "idempotency-expires"
X_RESTATE_INGRESS_PATH = "x-restate-ingress-path"
X_RESTATE_LIMIT_KEY = "x-restate-limit-key"

NOT_FORWARDED = frozenset({"connection", "host", IDEMPOTENCY_KEY, IDEMPOTENCY_EXPIRES})
"""Headers the ingress consumes instead of passing them to the handler."""

_VISIBLE = bytes(range(32, 127)) + b"\t"
"""Bytes a header value may hold: visible ASCII, space and tab."""


def header_text(name: str, raw: bytes) -> str:
    """Decode a header value that must be visible ASCII (tab allowed), as Restate requires.

    Raises:
        IngressError: 400 ``bad header {name}: …`` for any other byte.
    """
    if raw.translate(None, _VISIBLE):  # whatever is left after deleting the allowed bytes
        raise IngressError.bad_header(name, "failed to convert header to a str")
    return raw.decode("ascii")


def forwarded_headers(
    raw_headers: Iterable[tuple[bytes, bytes]], path_and_query: str
) -> dict[str, str]:
    """The headers an invocation carries to its handler.

    Args:
        raw_headers: The request's headers as received (ASGI: lower-case names).
        path_and_query: The raw request path plus ``?query`` when there is one.

    Returns:
        Lower-case names to values. A header sent several times is joined with
        ``", "`` (RFC 9110 §5.3), since a handler sees one value per name.

    Raises:
        IngressError: 400 for a header value that is not visible ASCII.
    """
    headers: dict[str, str] = {}
    for raw_name, raw_value in raw_headers:
        name = raw_name.decode("latin-1").lower()
        if name in NOT_FORWARDED or name == X_RESTATE_INGRESS_PATH:
            continue
        value = header_text(name, raw_value)
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    headers[X_RESTATE_INGRESS_PATH] = path_and_query
    return headers


def first_header(raw_headers: Iterable[tuple[bytes, bytes]], name: str) -> str | None:
    """The first value of header ``name`` (lower-case), or None when absent.

    Raises:
        IngressError: 400 when the value is not visible ASCII.
    """
    wanted = name.encode("latin-1")
    for raw_name, raw_value in raw_headers:
        if raw_name.lower() == wanted:
            return header_text(name, raw_value)
    return None
