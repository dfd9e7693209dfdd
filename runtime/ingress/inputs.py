"""Reading request bodies under a size limit and checking them against a handler's input rules.

The ingress refuses what the handler could never accept *before* anything is
made durable: a rejected request leaves no invocation behind. The rules follow
Restate's ``InputRules`` with the handler metadata rt keeps
(:class:`runtime.registry.HandlerInfo`):

- an empty body is fine for a handler without a required input, and refused
  with ``Empty body not allowed`` for one with a required input;
- a non-empty body needs a content-type whose media type (parameters such as
  ``charset`` ignored, case-insensitive) matches the handler's ``accept``
  (``type/subtype``, ``type/*`` or ``*/*``); a handler accepting ``*/*``
  takes any body, with or without a content-type.

Deliberate deviation: for handlers accepting ``application/json`` the body
must also be well-formed JSON (strict RFC 8259, as the SDK's msgspec decoder
reads it), else 400. Restate forwards any bytes and the SDK then fails the
invocation terminally with a 500 ("Unable to parse an input argument");
refusing at the edge gives the client the error it caused, with a 4xx, and
spends no durable invocation on it.
"""

from __future__ import annotations

import msgspec
from starlette.requests import Request

from runtime.ingress.errors import IngressError
from runtime.ingress.headers import first_header
from runtime.registry import HandlerInfo

JSON_MEDIA_TYPE = "application/json"
ANY_MEDIA_TYPE = "*/*"


def media_type(content_type: str) -> str:
    """The media type of a content-type value: parameters dropped, lower-cased.

    Example:
        >>> media_type("Application/JSON; charset=utf-8")
        'application/json'
    """
    return content_type.split(";", 1)[0].strip().lower()


def _matches(accept: str, content_type: str) -> bool:
    wanted_type, _, wanted_subtype = accept.partition("/")
    got_type, slash, got_subtype = media_type(content_type).partition("/")
    if not slash or not got_type or not got_subtype:
        return False
    return wanted_type == got_type and wanted_subtype in ("*", got_subtype)


def validate_input(handler: HandlerInfo, content_type: str | None, body: bytes) -> None:
    """Check a request body against the handler's declared input.

    Args:
        handler: The target handler's metadata (``accept``, ``input_required``).
        content_type: The request's ``content-type`` header, if any.
        body: The whole body.

    Raises:
        IngressError: 400 ``input validation error: …``.
    """
    if not body:
        if handler.input_required:
            raise IngressError.input_validation("Empty body not allowed")
        return
    accept = media_type(handler.accept)
    if accept == ANY_MEDIA_TYPE:
        return
    if content_type is None:
        raise IngressError.input_validation("Empty content-type")
    if not _matches(accept, content_type):
        raise IngressError.input_validation(
            f"Content-type '{content_type}' does not match '{accept}'"
        )
    if accept == JSON_MEDIA_TYPE:
        try:
            msgspec.json.decode(body)
        except (msgspec.DecodeError, UnicodeDecodeError) as e:
            raise IngressError.input_validation(f"malformed JSON body: {e}") from None


async def read_body(request: Request, limit: int) -> bytes:
    """Read the whole body, refusing more than ``limit`` bytes.

    A declared ``Content-Length`` over the limit is refused before reading a
    byte; a body without one (chunked) is refused as soon as what arrived
    passes the limit, so a client cannot make the ingress buffer an endless
    stream.

    Args:
        request: The request.
        limit: Largest accepted body, in bytes.

    Returns:
        The body.

    Raises:
        IngressError: 413 over the limit; 400 for an unparsable Content-Length.
    """
    declared = first_header(request.scope["headers"], "content-length")
    if declared is not None:
        if not (declared.strip().isascii() and declared.strip().isdigit()):
            raise IngressError.bad_header("content-length", f"invalid value {declared!r}")
        if int(declared) > limit:
            raise IngressError.payload_too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise IngressError.payload_too_large(limit)
    return bytes(body)
