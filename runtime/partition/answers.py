"""Answers to ingress callers: the one component of a partition that gives them.

An HTTP caller waits on its ingress process's channel (``runtime.responses``).
Its answer comes from here, in one of two ways:

- early, when an attempt's output is durable in the log (an invoker reports it
  through its host): invariant 4 holds, the output is in the log;
- when the partition applies the completion (or answers at once: accepted,
  duplicate, not found), for every caller, including those that attached later.

A caller answered early is not answered again at apply; the ingress drops
duplicates anyway (pub/sub may deliver twice). Owns the answer format
(:class:`Response`, NEVER CHANGE: processors and ingresses of different
versions must agree) and which callers were answered; may not decide when an
invocation is done.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Protocol

import msgspec

from runtime.log import records
from runtime.partition.status import Outcome


class ResponseStatus(StrEnum):
    """What an answer to an ingress caller is. NEVER CHANGE a value (in every
    :class:`Response`; ``tests/unit/test_wire_enums.py`` pins them)."""

    DONE = "done"
    """The invocation completed: ``outcome`` is its result."""
    ACCEPTED = "accepted"
    """A send was accepted (no result follows)."""
    PREVIOUSLY_ACCEPTED = "previously_accepted"
    """A send with the id of an invocation that exists already (idempotency key, workflow)."""
    DUPLICATE_RUN = "duplicate_run"
    """A workflow's ``run`` called again for the same workflow id."""
    NOT_FOUND = "not_found"
    """Attach to an invocation the partition does not know (never existed, or purged)."""
    NOT_READY = "not_ready"
    """A peek (``Attach(peek=True)``) at an invocation that has not completed."""


class Response(msgspec.Struct, frozen=True, array_like=True):
    request_id: str
    invocation_id: str
    outcome: Outcome | None = None
    """None with ``status`` set: an answer that is not a result (see ``status``)."""
    status: ResponseStatus = ResponseStatus.DONE
    """Encoded as its value. An ingress that does not know a status (a newer processor's)
    drops the answer as undecodable; its waiter falls back to reading the invocation's
    status, as for an answer lost on the way."""


_enc = msgspec.msgpack.Encoder()


def channel(prefix: str, ingress_id: str) -> str:
    """The pub/sub channel of one ingress process. NEVER CHANGE."""
    return f"{prefix}:resp:{ingress_id}"


def encode_response(r: Response) -> bytes:
    return _enc.encode(r)


class Publish(Protocol):
    """Delivers an encoded answer on a channel (``runtime.responses.Publisher``)."""

    def publish(self, chan: str, payload: bytes) -> None: ...


class Answers:
    """Answers the ingress callers of one partition's invocations.

    Args:
        publisher: Delivers answers (batched per loop turn).
        prefix: The cluster's prefix (channel names).
        stopped: Whether the partition's owner stopped (it answers nobody any more).
    """

    def __init__(self, publisher: Publish, prefix: str, stopped: Callable[[], bool]) -> None:
        self._publisher = publisher
        self._prefix = prefix
        self._stopped = stopped
        self._early: dict[str, int] = {}
        """Per invocation, how many of its callers (the first ones) were answered early."""

    def respond(
        self,
        sink: records.IngressSink,
        invocation_id: str,
        outcome: Outcome | None = None,
        status: ResponseStatus = ResponseStatus.DONE,
    ) -> None:
        """Answer one caller now (its request is applied)."""
        if not self._stopped():
            self._publish(sink, Response(sink.request_id, invocation_id, outcome, status))

    def early(
        self, invocation_id: str, sinks: Sequence[records.IngressSink], outcome: Outcome
    ) -> None:
        """The output of ``invocation_id`` is durable, not applied yet: answer its callers."""
        if not sinks:
            return
        for sink in sinks:
            self._publish(sink, Response(sink.request_id, invocation_id, outcome))
        self._early[invocation_id] = len(sinks)

    def completed(
        self, invocation_id: str, sinks: Sequence[records.IngressSink], outcome: Outcome
    ) -> None:
        """The completion of ``invocation_id`` is applied: answer the callers not answered
        early (callers only ever join at the end of ``sinks``)."""
        answered = self._early.pop(invocation_id, 0)
        if self._stopped():
            return
        for sink in sinks[answered:]:
            self._publish(sink, Response(sink.request_id, invocation_id, outcome))

    def _publish(self, sink: records.IngressSink, resp: Response) -> None:
        # At apply even before leading: answers are idempotent (the ingress drops
        # duplicates), and a caller whose Invoke is applied during catch-up must not wait.
        self._publisher.publish(channel(self._prefix, sink.ingress_id), encode_response(resp))
