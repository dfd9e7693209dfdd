"""URL path parsing for both of Restate's ingress path families.

A pure function from the raw (still percent-encoded) path to a typed
:data:`~runtime.ingress.targets.RequestTarget`, mirroring Restate's
``path_parsing.rs`` so the same URL means the same thing on both systems:

- legacy ("unversioned"): ``/{Service}/{handler}[/send]``,
  ``/{Object}/{key}/{handler}[/send]``, ``/restate/invocation/…``,
  ``/restate/workflow/…``, ``/restate/awakeables/…`` (alias ``/restate/a/…``),
  ``/restate/health``;
- new (1.7+): ``/restate/call|send/{Service}[/{key}]/{handler}``,
  ``/restate/scope/{scope}/call|send/…``, ``/restate/attach|output[/{id}]``,
  ``/restate/lookup``.

Whether a key segment is expected depends on the service type, so the
service is looked up *before* the rest is parsed; an unknown service fails
with 404 first. Only keys (object keys, workflow ids, idempotency keys, scopes)
are percent-decoded: service and handler names are compared as written, and
a ``%2F`` inside a key stays part of the key instead of splitting the path.

Two small departures from Restate, both stricter or more consistent:
idempotency keys in ``/restate/invocation/…/{idempotencyKey}/attach`` are
percent-decoded like every other key (Restate compares them still encoded, so
such a key could never match one sent in the ``idempotency-key`` header), and
extra segments after ``attach|output|resolve|reject`` are a 400 (Restate
ignores them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import unquote

from runtime.ingress.errors import IngressError
from runtime.ingress.targets import (
    AwakeableAction,
    AwakeableRequest,
    ByIdempotencyKey,
    ByInvocationId,
    ByWorkflow,
    HealthRequest,
    InvocationQuery,
    InvokeKind,
    LookupRequest,
    RequestTarget,
    ResultByBodyRequest,
    ResultMode,
    ResultRequest,
    ServiceRequest,
    validated_invocation_id,
)
from runtime.registry import ServiceInfo

ServiceLookup = Callable[[str], ServiceInfo | None]
"""Finds a registered service by name (``Registry.get``)."""

MIN_SEGMENTS = 2
"""``/Service/handler``."""
MAX_SEGMENTS = 7
"""``/restate/scope/{scope}/call/{Object}/{key}/{handler}``."""

_RESULT_MODES = {mode.value: mode for mode in ResultMode}
_AWAKEABLE_ACTIONS = {action.value: action for action in AwakeableAction}


def normalize_path(path: str) -> str:
    """Trim trailing slashes and collapse leading ones, as Restate's ingress does first.

    Restate runs tower-http's ``NormalizePath::trim_trailing_slash`` before
    parsing, so ``/Greeter/greet/`` is ``/Greeter/greet``.

    Example:
        >>> normalize_path("//Greeter/greet//")
        '/Greeter/greet'
    """
    if not path.endswith("/") and not path.startswith("//"):
        return path
    return "/" + path.strip("/")


def parse_path(path: str, lookup: ServiceLookup) -> RequestTarget:
    """Resolve a raw request path to what it asks for.

    Args:
        path: The path as received, percent-encoding intact, no query; it is
            normalized with :func:`normalize_path` first.
        lookup: Service lookup, consulted to know whether a key segment follows.

    Returns:
        The typed target.

    Raises:
        IngressError: 400 for malformed paths and ids, 404 for unknown
            services and unknown ``/restate/...`` verbs.

    Example:
        >>> from runtime.registry import Registry
        >>> parse_path("/restate/lookup", Registry().get)
        LookupRequest()
    """
    path = normalize_path(path)
    slashes = path.count("/")
    if not MIN_SEGMENTS <= slashes <= MAX_SEGMENTS:
        raise IngressError.bad_path(path)
    segments = iter(path.split("/")[1:])
    first = next(segments)
    if first == "openapi":
        # Reserved by Restate for a not-yet-implemented endpoint: answered 404 there too.
        raise IngressError.not_found()
    if first != "restate":
        return _parse_legacy_service(first, segments, lookup)

    verb = next(segments)
    match verb:
        case "health":
            return HealthRequest()
        case "awakeables" | "a":
            return _parse_awakeable(segments)
        case "invocation":
            return _parse_legacy_invocation(segments, lookup)
        case "workflow":
            return _parse_legacy_workflow(segments)
        case "call" | "send":
            return _parse_call_or_send(verb, None, segments, lookup)
        case "scope":
            scope = _decode_key(_need(segments, IngressError.bad_restate_api_path))
            inner = _need(segments, IngressError.bad_restate_api_path)
            return _parse_call_or_send(inner, scope, segments, lookup)
        case "attach" | "output":
            return _parse_result(_RESULT_MODES[verb], segments)
        case "lookup":
            _no_more(segments, IngressError.bad_restate_api_path)
            return LookupRequest()
        case _:
            raise IngressError.not_found()


def _need(segments: Iterator[str], error: Callable[[], IngressError]) -> str:
    segment = next(segments, None)
    if segment is None:
        raise error()
    return segment


def _no_more(segments: Iterator[str], error: Callable[[], IngressError]) -> None:
    if next(segments, None) is not None:
        raise error()


def _decode_key(raw: str) -> str:
    """Percent-decode a key segment (``+`` stays ``+``: this is a path, not a form)."""
    try:
        return unquote(raw, errors="strict")
    except UnicodeDecodeError as e:
        raise IngressError.undecodable_key(str(e)) from None


def _service(name: str, lookup: ServiceLookup) -> ServiceInfo:
    service = lookup(name)
    if service is None:
        raise IngressError.service_not_found(name)
    return service


def _parse_legacy_service(
    name: str, segments: Iterator[str], lookup: ServiceLookup
) -> ServiceRequest:
    error = IngressError.bad_service_path
    service = _service(name, lookup)
    key = _decode_key(_need(segments, error)) if service.ty.keyed else None
    handler = _need(segments, error)
    match next(segments, None):
        case None:
            kind = InvokeKind.CALL
        case "send":
            kind = InvokeKind.SEND
        case _:
            raise error()
    _no_more(segments, error)
    return ServiceRequest(name, handler, key, kind)


def _parse_call_or_send(
    verb: str, scope: str | None, segments: Iterator[str], lookup: ServiceLookup
) -> ServiceRequest:
    error = IngressError.bad_restate_api_path
    if verb not in ("call", "send"):
        raise error()
    name = _need(segments, error)
    service = _service(name, lookup)
    key = _decode_key(_need(segments, error)) if service.ty.keyed else None
    handler = _need(segments, error)
    _no_more(segments, error)
    return ServiceRequest(name, handler, key, InvokeKind(verb), scope)


def _parse_result(mode: ResultMode, segments: Iterator[str]) -> RequestTarget:
    invocation_id = next(segments, None)
    if invocation_id is None:
        return ResultByBodyRequest(mode)
    _no_more(segments, IngressError.bad_restate_api_path)
    return ResultRequest(mode, ByInvocationId(validated_invocation_id(invocation_id)))


def _parse_awakeable(segments: Iterator[str]) -> AwakeableRequest:
    error = IngressError.bad_awakeables_path
    awakeable_id = _need(segments, error)
    action = _AWAKEABLE_ACTIONS.get(_need(segments, error))
    if action is None:
        raise IngressError.not_found()
    _no_more(segments, error)
    return AwakeableRequest(awakeable_id, action)


def _result_mode(segment: str) -> ResultMode:
    mode = _RESULT_MODES.get(segment)
    if mode is None:
        raise IngressError.not_found()
    return mode


def _parse_legacy_invocation(segments: Iterator[str], lookup: ServiceLookup) -> ResultRequest:
    """``{id}/attach|output`` or ``{Service}[/{key}]/{handler}/{idempotencyKey}/attach|output``."""
    error = IngressError.bad_invocation_path
    first = _need(segments, error)
    second = _need(segments, error)
    third = next(segments, None)
    query: InvocationQuery
    if third is None:
        mode = _result_mode(second)
        query = ByInvocationId(validated_invocation_id(first))
    else:
        service = _service(first, lookup)
        if service.ty.keyed:
            key: str | None = _decode_key(second)
            handler, idempotency_key = third, _need(segments, error)
        else:
            key, handler, idempotency_key = None, second, third
        mode = _result_mode(_need(segments, error))
        query = ByIdempotencyKey(first, key, handler, _decode_key(idempotency_key))
    _no_more(segments, error)
    return ResultRequest(mode, query)


def _parse_legacy_workflow(segments: Iterator[str]) -> ResultRequest:
    """``{Workflow}/{id}/attach|output``; the workflow is not looked up (it may be gone)."""
    error = IngressError.bad_workflow_path
    workflow = _need(segments, error)
    key = _decode_key(_need(segments, error))
    mode = _result_mode(_need(segments, error))
    _no_more(segments, error)
    return ResultRequest(mode, ByWorkflow(workflow, key))
