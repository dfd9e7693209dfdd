"""What handler code sees: contexts, durable futures, promises (mirrors ``restate.context``).

Capabilities are in the types (mypy catches misuse before it runs):

============================  =====================================================
context                       capabilities
============================  =====================================================
:class:`Context`              request, run, sleep, calls/sends, awakeables, random
:class:`ObjectSharedContext`  + ``key()``, read state (``get``, ``state_keys``)
:class:`ObjectContext`        + write state (``set``, ``clear``, ``clear_all``)
:class:`WorkflowSharedContext` shared-object reads + ``promise()``
:class:`WorkflowContext`      exclusive-object state + ``promise()``
============================  =====================================================

A plain service context has no state at all; a shared handler cannot write;
only workflow contexts have promises.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Coroutine, Generator
from dataclasses import dataclass, field
from datetime import timedelta
from random import Random
from typing import Any, Generic, ParamSpec, TypeVar, overload
from uuid import UUID

from sdk.serde import DefaultSerde, Serde

__all__ = [
    "AttemptFinishedEvent",
    "Context",
    "DurablePromise",
    "HandlerType",
    "ObjectContext",
    "ObjectSharedContext",
    "Request",
    "RestateDurableCallFuture",
    "RestateDurableFuture",
    "RestateDurableSleepFuture",
    "RunAction",
    "RunOptions",
    "SendHandle",
    "WorkflowContext",
    "WorkflowSharedContext",
]

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - name mirrors restate-sdk
O = TypeVar("O")  # noqa: E741 - name mirrors restate-sdk
P = ParamSpec("P")

HandlerType = Callable[[Any, I], Awaitable[O]] | Callable[[Any], Awaitable[O]]
"""A decorated handler function, used as the target of typed calls."""

RunAction = Callable[..., Coroutine[Any, Any, T]] | Callable[..., T]
"""A ``ctx.run`` action: a sync function (run in an executor) or a coroutine function."""


@dataclass
class RunOptions(Generic[T]):
    """Options of ``ctx.run_typed``.

    Without any retry field the action gets no retries of its own: an exception
    fails the whole attempt and the invocation's retry policy applies (the
    action runs again on the next attempt). With any retry field set, the action
    is retried inside the attempt; when retries are exhausted the run's result is
    journaled as a ``TerminalError`` wrapping the last error message.
    """

    serde: Serde[T] = field(default_factory=DefaultSerde)
    """Serializer of the result; by default chosen from ``type_hint``."""
    type_hint: type[T] | None = None
    """Type of the result; by default the action's return annotation."""
    max_attempts: int | None = None
    """Max number of attempts, including the first, before giving up."""
    max_duration: timedelta | None = None
    """Max time spent retrying, measured from the first attempt, before giving up."""
    initial_retry_interval: timedelta | None = None
    """Delay before the first retry (default 50 ms when any retry field is set)."""
    max_retry_interval: timedelta | None = None
    """Upper bound for the delay between retries (default 10 s)."""
    retry_interval_factor: float | None = None
    """Growth factor of the delay between retries (default 2.0)."""
    max_retry_duration: timedelta | None = None
    """Deprecated alias of ``max_duration``."""

    def has_retry_policy(self) -> bool:
        """True when any retry field is set (the action then retries inside the attempt)."""
        return any(
            v is not None
            for v in (
                self.max_attempts,
                self.max_duration,
                self.initial_retry_interval,
                self.max_retry_interval,
                self.retry_interval_factor,
                self.max_retry_duration,
            )
        )


class AttemptFinishedEvent(abc.ABC):
    """Set when the current attempt ends (completed, failed, suspended or evicted).

    Use it to release resources tied to one attempt, e.g. to stop work started
    inside ``ctx.run`` that can no longer be journaled.
    """

    @abc.abstractmethod
    def is_set(self) -> bool:
        """True once the attempt has finished."""

    @abc.abstractmethod
    async def wait(self) -> None:
        """Wait until the attempt has finished."""


@dataclass
class Request:
    """The request that started this invocation.

    Attributes:
        id: The invocation id (``inv_...``).
        headers: Headers of the request (as forwarded by the ingress or caller).
        attempt_headers: Headers of this attempt (empty in rt).
        body: The raw input bytes.
        attempt_finished_event: Set when this attempt ends.
        scope: Flow-control scope (not supported by rt yet; always None).
        limit_key: Flow-control limit key (not supported by rt yet; always None).
        idempotency_key: The idempotency key the invocation was submitted with.
    """

    id: str
    headers: dict[str, str]
    attempt_headers: dict[str, str]
    body: bytes
    attempt_finished_event: AttemptFinishedEvent
    scope: str | None = None
    limit_key: str | None = None
    idempotency_key: str | None = None


class RestateDurableFuture(Generic[T], Awaitable[T], abc.ABC):
    """A durable result: await it, or combine it with ``gather``/``select``/...

    Its completion is journaled, so awaiting it on replay gives the same result
    (or raises the same ``TerminalError``).
    """

    @abc.abstractmethod
    def __await__(self) -> Generator[Any, Any, T]:
        """Wait for the result."""


class RestateDurableCallFuture(RestateDurableFuture[T]):
    """The result of a request-response call."""

    @abc.abstractmethod
    async def invocation_id(self) -> str:
        """The callee's invocation id (deterministic; never waits for the runtime)."""

    @abc.abstractmethod
    async def cancel_invocation(self) -> None:
        """Cancel the callee: a shortcut for ``ctx.cancel_invocation(await f.invocation_id())``."""


class RestateDurableSleepFuture(RestateDurableFuture[None]):
    """A durable timer."""

    @abc.abstractmethod
    def __await__(self) -> Generator[Any, Any, None]:
        """Wait until the timer fires."""


class SendHandle(abc.ABC):
    """Handle of a one-way send."""

    @abc.abstractmethod
    async def invocation_id(self) -> str:
        """The callee's invocation id (deterministic)."""

    @abc.abstractmethod
    async def cancel_invocation(self) -> None:
        """Cancel the callee."""


class DurablePromise(Generic[T], abc.ABC):
    """A workflow's durable promise, resolvable once, from any handler of the workflow.

    Args:
        name: The promise name (unique per workflow id).
        serde: Serializer of the value.
    """

    def __init__(
        self,
        name: str,
        serde: Serde[T] = DefaultSerde(),  # noqa: B008 - immutable, mirrors restate-sdk
    ) -> None:
        self.name = name
        self.serde: Serde[T] = serde

    @abc.abstractmethod
    def resolve(self, value: T) -> Awaitable[None]:
        """Resolve the promise.

        Raises:
            TerminalError: 409 ``promise was already completed`` when awaited
                after someone else completed it first.
        """

    @abc.abstractmethod
    def reject(self, message: str, code: int = 500) -> Awaitable[None]:
        """Reject the promise: waiters get ``TerminalError(message, code)``."""

    @abc.abstractmethod
    def peek(self) -> Awaitable[T | None]:
        """The value if the promise is resolved, else None (raises if rejected)."""

    @abc.abstractmethod
    def value(self) -> RestateDurableFuture[T]:
        """A future completed when the promise is resolved or rejected."""

    @abc.abstractmethod
    def __await__(self) -> Generator[Any, Any, T]:
        """Shortcut for ``await promise.value()``."""


class Context(abc.ABC):
    """The context of a plain service handler (and the base of all contexts)."""

    @abc.abstractmethod
    def request(self) -> Request:
        """The request that started this invocation."""

    @abc.abstractmethod
    def random(self) -> Random:
        """A random generator seeded deterministically (same values on every replay)."""

    @abc.abstractmethod
    def uuid(self) -> UUID:
        """A deterministic UUID v4 drawn from :meth:`random`."""

    @abc.abstractmethod
    def time(self) -> RestateDurableFuture[float]:
        """The current time in seconds since the epoch, journaled (a ``ctx.run``)."""

    @overload
    @abc.abstractmethod
    def run(
        self,
        name: str,
        action: Callable[..., Coroutine[Any, Any, T]],
        serde: Serde[T] = ...,
        max_attempts: int | None = None,
        max_retry_duration: timedelta | None = None,
        type_hint: type[T] | None = None,
        args: tuple[Any, ...] | None = None,
    ) -> RestateDurableFuture[T]: ...

    @overload
    @abc.abstractmethod
    def run(
        self,
        name: str,
        action: Callable[..., T],
        serde: Serde[T] = ...,
        max_attempts: int | None = None,
        max_retry_duration: timedelta | None = None,
        type_hint: type[T] | None = None,
        args: tuple[Any, ...] | None = None,
    ) -> RestateDurableFuture[T]: ...

    @abc.abstractmethod
    def run(
        self,
        name: str,
        action: RunAction[T],
        serde: Serde[T] = DefaultSerde(),  # noqa: B008 - immutable, mirrors restate-sdk
        max_attempts: int | None = None,
        max_retry_duration: timedelta | None = None,
        type_hint: type[T] | None = None,
        args: tuple[Any, ...] | None = None,
    ) -> RestateDurableFuture[T]:
        """Run a side effect once and journal its result (deprecated: use :meth:`run_typed`).

        Args:
            name: Name of the step (checked on replay).
            action: Sync or async callable.
            serde: Serializer of the result.
            max_attempts: Retry the action inside the attempt up to this many times.
            max_retry_duration: Retry the action inside the attempt for at most this long.
            type_hint: Type of the result (default: the action's return annotation).
            args: Positional arguments for ``action``.
        """

    @overload
    @abc.abstractmethod
    def run_typed(
        self,
        name: str,
        action: Callable[P, Coroutine[Any, Any, T]],
        options: RunOptions[T] = ...,
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> RestateDurableFuture[T]: ...

    @overload
    @abc.abstractmethod
    def run_typed(
        self,
        name: str,
        action: Callable[P, T],
        options: RunOptions[T] = ...,
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> RestateDurableFuture[T]: ...

    @abc.abstractmethod
    def run_typed(
        self,
        name: str,
        action: Callable[P, Coroutine[Any, Any, T]] | Callable[P, T],
        options: RunOptions[T] = RunOptions(),  # noqa: B008 - never mutated
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> RestateDurableFuture[T]:
        """Run a side effect and journal its result; replay returns the journaled result.

        The action runs at least once (again if the attempt fails before its
        result is durable) and never again once journaled. The await returns
        only after the runtime has made the result durable.

        Args:
            name: Name of the step (checked on replay).
            action: Sync (run in an executor) or async callable.
            options: Serde and retry options.
            *args: Positional arguments for ``action``.
            **kwargs: Keyword arguments for ``action``.

        Returns:
            A durable future of the action's result.

        Example:
            >>> total = await ctx.run_typed("charge", charge, RunOptions(max_attempts=3), 42)
        """

    @abc.abstractmethod
    def sleep(self, delta: timedelta, name: str | None = None) -> RestateDurableSleepFuture:
        """A durable timer firing ``delta`` from now (the wake-up time is journaled)."""

    @abc.abstractmethod
    def service_call(
        self,
        tpe: HandlerType[I, O],
        arg: I,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> RestateDurableCallFuture[O]:
        """Call a service handler and get a future of its result."""

    @abc.abstractmethod
    def service_send(
        self,
        tpe: HandlerType[I, O],
        arg: I,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> SendHandle:
        """Send a one-way message to a service handler, optionally delayed."""

    @abc.abstractmethod
    def object_call(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> RestateDurableCallFuture[O]:
        """Call a virtual object handler for ``key``."""

    @abc.abstractmethod
    def object_send(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> SendHandle:
        """Send a one-way message to a virtual object handler for ``key``."""

    @abc.abstractmethod
    def workflow_call(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> RestateDurableCallFuture[O]:
        """Call a workflow handler (its main handler, or a shared one) for workflow id ``key``."""

    @abc.abstractmethod
    def workflow_send(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> SendHandle:
        """Send a one-way message to a workflow handler for workflow id ``key``."""

    @abc.abstractmethod
    def generic_call(
        self,
        service: str,
        handler: str,
        arg: bytes,
        key: str | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> RestateDurableCallFuture[bytes]:
        """Call any handler by name with raw bytes; the result is raw bytes."""

    @abc.abstractmethod
    def generic_send(
        self,
        service: str,
        handler: str,
        arg: bytes,
        key: str | None = None,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> SendHandle:
        """Send to any handler by name with raw bytes."""

    @overload
    def awakeable(self) -> tuple[str, RestateDurableFuture[Any]]: ...

    @overload
    def awakeable(
        self, serde: Serde[T] = ..., type_hint: type[T] | None = None
    ) -> tuple[str, RestateDurableFuture[T]]: ...

    @abc.abstractmethod
    def awakeable(
        self,
        serde: Serde[T] = DefaultSerde(),  # noqa: B008 - immutable, mirrors restate-sdk
        type_hint: type[T] | None = None,
    ) -> tuple[str, RestateDurableFuture[T]]:
        """Create an awakeable: an id to hand to someone else and the future they complete."""

    @abc.abstractmethod
    def resolve_awakeable(
        self,
        name: str,
        value: I,
        serde: Serde[I] = DefaultSerde(),  # noqa: B008 - immutable, mirrors restate-sdk
    ) -> None:
        """Resolve the awakeable with id ``name``."""

    @abc.abstractmethod
    def reject_awakeable(self, name: str, failure_message: str, failure_code: int = 500) -> None:
        """Reject the awakeable with id ``name``: its waiter gets a ``TerminalError``."""

    @overload
    def signal(self, name: str) -> RestateDurableFuture[Any]: ...

    @overload
    def signal(
        self, name: str, serde: Serde[T] = ..., type_hint: type[T] | None = None
    ) -> RestateDurableFuture[T]: ...

    @abc.abstractmethod
    def signal(
        self,
        name: str,
        serde: Serde[T] = DefaultSerde(),  # noqa: B008 - immutable, mirrors restate-sdk
        type_hint: type[T] | None = None,
    ) -> RestateDurableFuture[T]:
        """Wait for the next named signal ``name`` sent to this invocation.

        Another handler sends it with ``ctx.resolve_signal(invocation_id, name, value)``
        or ``ctx.reject_signal(...)``. A signal that arrives before this call is kept
        until it is asked for; each call takes the next signal of that name, in the
        order they arrived. The future works with every combinator.

        Args:
            name: The signal's name.
            serde: Deserializes the value.
            type_hint: The value's type, for the default serde.

        Returns:
            A durable future of the value; awaiting it raises ``TerminalError`` when
            the signal was rejected.

        Example:
            >>> approved = await ctx.signal("approved", type_hint=bool)  # doctest: +SKIP
        """

    @abc.abstractmethod
    def resolve_signal(
        self,
        invocation_id: str,
        name: str,
        value: I,
        serde: Serde[I] = DefaultSerde(),  # noqa: B008 - immutable, mirrors restate-sdk
    ) -> None:
        """Send named signal ``name`` with ``value`` to invocation ``invocation_id``.

        Fire and forget, journaled: sent once the entry is durable. A signal for an
        invocation that has completed, or that rt does not know, is dropped.

        Raises:
            TerminalError: ``invocation_id`` is not an invocation id (400).
        """

    @abc.abstractmethod
    def reject_signal(
        self, invocation_id: str, name: str, failure_message: str, failure_code: int = 500
    ) -> None:
        """Send named signal ``name`` to ``invocation_id`` as a failure: its waiter gets
        ``TerminalError(failure_message, failure_code)``.

        Raises:
            TerminalError: ``invocation_id`` is not an invocation id (400).
        """

    @abc.abstractmethod
    def cancel_invocation(self, invocation_id: str) -> None:
        """Ask the runtime to cancel another invocation (fire and forget)."""

    @overload
    def attach_invocation(self, invocation_id: str) -> RestateDurableFuture[Any]: ...

    @overload
    def attach_invocation(
        self, invocation_id: str, serde: Serde[T] = ..., type_hint: type[T] | None = None
    ) -> RestateDurableFuture[T]: ...

    @abc.abstractmethod
    def attach_invocation(
        self,
        invocation_id: str,
        serde: Serde[T] = DefaultSerde(),  # noqa: B008 - immutable, mirrors restate-sdk
        type_hint: type[T] | None = None,
    ) -> RestateDurableFuture[T]:
        """Wait for the result of another invocation."""


class ObjectSharedContext(Context):
    """The context of a shared (read-only) virtual object handler."""

    @abc.abstractmethod
    def key(self) -> str:
        """The object key."""

    @overload
    def get(self, name: str, *, entry_name: str | None = None) -> RestateDurableFuture[Any]: ...

    @overload
    def get(
        self,
        name: str,
        serde: Serde[T] = ...,
        type_hint: type[T] | None = None,
        entry_name: str | None = None,
    ) -> RestateDurableFuture[T | None]: ...

    @abc.abstractmethod
    def get(
        self,
        name: str,
        serde: Serde[T] = DefaultSerde(),  # noqa: B008 - immutable, mirrors restate-sdk
        type_hint: type[T] | None = None,
        entry_name: str | None = None,
    ) -> RestateDurableFuture[T | None]:
        """Read state ``name`` (None when absent).

        ``entry_name`` (restate-sdk's name of the journal entry) is accepted and not
        journaled: rt names only ``ctx.run`` and sleep entries.
        """

    @abc.abstractmethod
    def state_keys(self, entry_name: str | None = None) -> RestateDurableFuture[list[str]]:
        """The state keys of this object (``entry_name``: as for :meth:`get`)."""


class ObjectContext(ObjectSharedContext):
    """The context of an exclusive virtual object handler: reads and writes state."""

    @abc.abstractmethod
    def set(
        self,
        name: str,
        value: T,
        serde: Serde[T] = DefaultSerde(),  # noqa: B008 - immutable, mirrors restate-sdk
        entry_name: str | None = None,
    ) -> None:
        """Write state ``name`` (``entry_name``: accepted, not journaled, as for ``get``)."""

    @abc.abstractmethod
    def clear(self, name: str, entry_name: str | None = None) -> None:
        """Delete state ``name`` (``entry_name``: as for ``set``)."""

    @abc.abstractmethod
    def clear_all(self, entry_name: str | None = None) -> None:
        """Delete all state of this object (``entry_name``: as for ``set``)."""


class WorkflowSharedContext(ObjectSharedContext):
    """The context of a workflow's shared handlers: read state, use promises."""

    @overload
    def promise(self, name: str) -> DurablePromise[Any]: ...

    @overload
    def promise(
        self, name: str, serde: Serde[T] = ..., type_hint: type[T] | None = None
    ) -> DurablePromise[T]: ...

    @abc.abstractmethod
    def promise(
        self,
        name: str,
        serde: Serde[T] = DefaultSerde(),  # noqa: B008 - immutable, mirrors restate-sdk
        type_hint: type[T] | None = None,
    ) -> DurablePromise[T]:
        """The durable promise ``name`` of this workflow."""


class WorkflowContext(ObjectContext):
    """The context of a workflow's main handler: state and promises."""

    @overload
    def promise(self, name: str) -> DurablePromise[Any]: ...

    @overload
    def promise(
        self, name: str, serde: Serde[T] = ..., type_hint: type[T] | None = None
    ) -> DurablePromise[T]: ...

    @abc.abstractmethod
    def promise(
        self,
        name: str,
        serde: Serde[T] = DefaultSerde(),  # noqa: B008 - immutable, mirrors restate-sdk
        type_hint: type[T] | None = None,
    ) -> DurablePromise[T]:
        """The durable promise ``name`` of this workflow."""
