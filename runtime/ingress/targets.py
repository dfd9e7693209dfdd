"""What an ingress request is about, as typed values (no HTTP in here).

:mod:`runtime.ingress.paths` turns a URL path into one of the ``*Request``
classes below; the JSON bodies of ``POST /restate/attach|output|lookup`` become
an :data:`InvocationQuery`. Handlers in :mod:`runtime.ingress.app` then match
on these types, so every path form of both URL families ends up in the same
few code paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import msgspec

from runtime.ingress.errors import IngressError
from sdk.ids import (
    AWAKEABLE_PREFIX,
    INVOCATION_PREFIX,
    InvalidIdError,
    idempotent_invocation_id,
    parse_awakeable_id,
    parse_invocation_id,
    workflow_invocation_id,
)


class InvokeKind(Enum):
    """Whether the caller waits for the result (call) or only for acceptance (send)."""

    CALL = "call"
    SEND = "send"


@dataclass(frozen=True)
class ServiceRequest:
    """Invoke ``service/handler`` (``key`` set for virtual objects and workflows)."""

    service: str
    handler: str
    key: str | None
    kind: InvokeKind
    scope: str | None = None
    """Flow-control scope of ``/restate/scope/{scope}/...`` paths (refused later on)."""


@dataclass(frozen=True)
class HealthRequest:
    """``GET /restate/health``."""


class AwakeableAction(Enum):
    """What to do with an awakeable."""

    RESOLVE = "resolve"
    REJECT = "reject"


@dataclass(frozen=True)
class AwakeableRequest:
    """``POST /restate/awakeables/{id}/resolve|reject`` (alias ``/restate/a/...``)."""

    awakeable_id: str
    action: AwakeableAction


@dataclass(frozen=True)
class ByInvocationId:
    """An invocation named by its id."""

    invocation_id: str

    def invocation_id_of(self) -> str:
        """The invocation id (already validated when this value was built)."""
        return self.invocation_id


@dataclass(frozen=True)
class ByIdempotencyKey:
    """The invocation an idempotent request created: its id is derived, not stored."""

    service: str
    key: str | None
    handler: str
    idempotency_key: str

    def invocation_id_of(self) -> str:
        """The deterministic id every request with this identity gets."""
        return idempotent_invocation_id(self.service, self.handler, self.key, self.idempotency_key)


@dataclass(frozen=True)
class ByWorkflow:
    """The run of workflow ``workflow`` with id ``key``."""

    workflow: str
    key: str

    def invocation_id_of(self) -> str:
        """The deterministic id of the one run per workflow id."""
        return workflow_invocation_id(self.workflow, self.key)


InvocationQuery = ByInvocationId | ByIdempotencyKey | ByWorkflow
"""Which invocation an attach, output or lookup is about."""


class ResultMode(Enum):
    """Attach waits for the outcome; output only peeks at it."""

    ATTACH = "attach"
    OUTPUT = "output"


@dataclass(frozen=True)
class ResultRequest:
    """Attach/output addressed by the path (``GET`` only)."""

    mode: ResultMode
    query: InvocationQuery


@dataclass(frozen=True)
class ResultByBodyRequest:
    """``POST /restate/attach|output`` with the target in a JSON body."""

    mode: ResultMode


@dataclass(frozen=True)
class LookupRequest:
    """``POST /restate/lookup``: compute an invocation id from a JSON target body."""


RequestTarget = (
    ServiceRequest
    | HealthRequest
    | AwakeableRequest
    | ResultRequest
    | ResultByBodyRequest
    | LookupRequest
)
"""Everything a path can resolve to."""


def _id_error_reason(error: InvalidIdError, kind: str, text: str, prefix: str) -> str:
    """The part of an id parse error after ``bad {kind} id '{text}'``, or a fallback."""
    detail = str(error).removeprefix(f"bad {kind} id '{text}'").removeprefix(": ")
    if detail:
        return detail
    if not text.startswith(prefix):
        return f"unrecognized prefix, expected '{prefix}'"
    return "bad length or format"


def validated_invocation_id(text: str) -> str:
    """Return ``text`` if it is a well-formed invocation id.

    Raises:
        IngressError: 400 ``bad invocation id '…': …``.
    """
    try:
        parse_invocation_id(text)
    except InvalidIdError as e:
        reason = _id_error_reason(e, "invocation", text, INVOCATION_PREFIX)
        raise IngressError.bad_invocation_id(text, reason) from None
    return text


def validated_awakeable_id(text: str) -> str:
    """Return ``text`` if it is a well-formed awakeable id.

    Raises:
        IngressError: 400 ``bad awakeable id '…': …``.
    """
    try:
        parse_awakeable_id(text)
    except InvalidIdError as e:
        reason = _id_error_reason(e, "awakeable", text, AWAKEABLE_PREFIX)
        raise IngressError.bad_awakeable_id(text, reason) from None
    return text


# The JSON target bodies, exactly as Restate's ``InvocationTargetRequest``
# (internally tagged by "target", camelCase fields).


class _WorkflowBody(msgspec.Struct, tag_field="target", tag="workflow", rename="camel"):
    workflow_name: str
    workflow_key: str
    scope: str | None = None


class _IdempotentBody(
    msgspec.Struct, tag_field="target", tag="idempotentInvocation", rename="camel"
):
    service: str
    handler: str
    idempotency_key: str
    key: str | None = None
    scope: str | None = None


class _InvocationBody(msgspec.Struct, tag_field="target", tag="invocation", rename="camel"):
    invocation_id: str


_TargetBody = _WorkflowBody | _IdempotentBody | _InvocationBody
_target_decoder: msgspec.json.Decoder[_TargetBody] = msgspec.json.Decoder(_TargetBody)


def parse_target_body(body: bytes, what: str) -> InvocationQuery:
    """Parse an attach/output/lookup body into the invocation it names.

    Like Restate, the service or workflow is not checked against the
    registry: it may have been removed after its invocations completed.

    Args:
        body: ``{"target":"workflow","workflowName":…,"workflowKey":…}``,
            ``{"target":"idempotentInvocation","service":…,"handler":…,"idempotencyKey":…,
            "key"?:…}`` or ``{"target":"invocation","invocationId":…}``.
        what: ``request`` or ``lookup``, for the error message.

    Returns:
        The query.

    Raises:
        IngressError: 400 for a malformed body or invocation id, or a scope
            (rt has no flow-control scopes).
    """
    try:
        parsed = _target_decoder.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError) as e:
        raise IngressError.invalid_body(what, str(e)) from None
    match parsed:
        case _WorkflowBody(workflow_name=name, workflow_key=key, scope=scope):
            if scope is not None:
                raise IngressError.scope_unsupported()
            return ByWorkflow(name, key)
        case _IdempotentBody(scope=scope) if scope is not None:
            raise IngressError.scope_unsupported()
        case _IdempotentBody():
            return ByIdempotencyKey(
                parsed.service, parsed.key, parsed.handler, parsed.idempotency_key
            )
        case _InvocationBody(invocation_id=invocation_id):
            return ByInvocationId(validated_invocation_id(invocation_id))
    raise AssertionError(f"unexpected target body {parsed!r}")  # pragma: no cover
