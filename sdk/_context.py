"""Context implementations handed to handlers (private).

One class per capability set, so a plain service handler really has no
``get`` and a shared handler really has no ``set`` -- the runtime objects match
the ABCs in :mod:`sdk.context` that mypy checks against.
"""

from __future__ import annotations

import contextlib
import typing
import weakref
from collections.abc import Callable, Coroutine
from datetime import timedelta
from random import Random
from typing import Any, ParamSpec, TypeVar
from uuid import UUID

from sdk import _ids
from sdk._definitions import HandlerDefinition, HandlerKind, ServiceType, handler_definition_of
from sdk._engine import InvocationDriver, RunSpec, bind_run_action
from sdk._futures import (
    CallFuture,
    DurableFuture,
    DurablePromiseImpl,
    SendHandleImpl,
    SleepFuture,
    cancel,
    decode_with,
)
from sdk._journal import (
    AttachInvocationCommand,
    AwakeableCommand,
    CallCommand,
    ClearAllStateCommand,
    ClearStateCommand,
    CompleteAwakeableCommand,
    Failure,
    GetStateCommand,
    GetStateKeysCommand,
    RunCommand,
    SendCommand,
    SendSignalCommand,
    SetStateCommand,
    SignalCommand,
    SleepCommand,
    StateKeys,
    Value,
    Void,
)
from sdk._protocol.awakeables import AWAKEABLE_PREFIX as SIGNAL_AWAKEABLE_PREFIX
from sdk._protocol.awakeables import parse_signal_awakeable_id, signal_awakeable_id
from sdk.context import (
    Context,
    DurablePromise,
    HandlerType,
    ObjectContext,
    ObjectSharedContext,
    Request,
    RestateDurableCallFuture,
    RestateDurableFuture,
    RestateDurableSleepFuture,
    RunAction,
    RunOptions,
    SendHandle,
    WorkflowContext,
    WorkflowSharedContext,
)
from sdk.exceptions import TerminalError
from sdk.serde import BytesSerde, DefaultSerde, Serde

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - name mirrors restate-sdk
O = TypeVar("O")  # noqa: E741 - name mirrors restate-sdk
P = ParamSpec("P")


def _typed(serde: Serde[Any], type_hint: Any) -> Serde[Any]:
    if isinstance(serde, DefaultSerde) and serde.type_hint is None and type_hint is not None:
        return DefaultSerde(type_hint)
    return serde


_RETURN_HINTS: weakref.WeakKeyDictionary[Callable[..., Any], Any] = weakref.WeakKeyDictionary()
"""Resolved return annotations of ``ctx.run`` actions: resolving string annotations
compiles them, which costs more than running most actions."""


def _return_hint(action: Callable[..., Any]) -> Any:
    annotations = getattr(action, "__annotations__", None)
    if isinstance(annotations, dict) and "return" not in annotations:
        return None  # lambdas, unannotated functions
    fn = getattr(action, "__func__", action)  # a bound method: its function
    try:
        return _RETURN_HINTS[fn]
    except (KeyError, TypeError):  # TypeError: not weakly referenceable
        pass
    try:
        hint = typing.get_type_hints(action).get("return")
    except Exception:  # builtins, partials: no usable annotation
        hint = None
    with contextlib.suppress(TypeError):
        _RETURN_HINTS[fn] = hint
    return hint


def _delay_ms(delay: timedelta | None) -> int | None:
    if delay is None:
        return None
    if not isinstance(delay, timedelta):
        raise TypeError(f"send_delay must be a timedelta, got {type(delay).__name__}")
    return max(0, int(delay.total_seconds() * 1000))


_WRONG_TARGET = {
    ServiceType.SERVICE: "service_call/service_send",
    ServiceType.VIRTUAL_OBJECT: "object_call/object_send",
    ServiceType.WORKFLOW: "workflow_call/workflow_send",
}


class _BaseContext(Context):
    """Everything every handler can do."""

    def __init__(self, driver: InvocationDriver) -> None:
        self._driver = driver
        self._request: Request | None = None

    # -- request, randomness, time -----------------------------------------

    def request(self) -> Request:
        if self._request is None:
            cmd = self._driver.input_command
            inv = self._driver.invocation
            self._request = Request(
                id=inv.invocation_id,
                headers=dict(cmd.headers if cmd is not None else inv.headers),
                attempt_headers={},
                body=cmd.body if cmd is not None else inv.input,
                attempt_finished_event=self._driver.attempt_finished,
                idempotency_key=inv.idempotency_key,
            )
        return self._request

    def random(self) -> Random:
        self._driver.check_usable()
        return self._driver.random

    def uuid(self) -> UUID:
        return UUID(int=self.random().getrandbits(128), version=4)

    def time(self) -> RestateDurableFuture[float]:
        return self.run_typed("timestamp", self._driver.clock, RunOptions(type_hint=float))

    # -- ctx.run -------------------------------------------------------------

    def run(
        self,
        name: str,
        action: RunAction[T],
        serde: Serde[T] = DefaultSerde(),  # noqa: B008 - never mutated
        max_attempts: int | None = None,
        max_retry_duration: timedelta | None = None,
        type_hint: type[T] | None = None,
        args: tuple[Any, ...] | None = None,
    ) -> RestateDurableFuture[T]:
        options: RunOptions[T] = RunOptions(
            serde=serde,
            type_hint=type_hint,
            max_attempts=max_attempts,
            max_duration=max_retry_duration,
        )
        return self.run_typed(name, action, options, *(args or ()))

    def run_typed(
        self,
        name: str,
        action: Callable[P, Coroutine[Any, Any, T]] | Callable[P, T],
        options: RunOptions[T] = RunOptions(),  # noqa: B008 - never mutated
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> RestateDurableFuture[T]:
        if not isinstance(name, str):
            raise TypeError(f"ctx.run needs a step name (str) first, got {name!r}")
        if not callable(action):
            raise TypeError(f"ctx.run {name!r}: action must be callable, got {action!r}")
        serde: Serde[Any] = options.serde
        if isinstance(serde, DefaultSerde) and serde.type_hint is None:
            hint = options.type_hint if options.type_hint is not None else _return_hint(action)
            serde = DefaultSerde(hint)
        index, _, _ = self._driver.issue_command(RunCommand(name=name))
        self._driver.register_run(
            index, RunSpec(name, bind_run_action(action, args, kwargs), serde, options)
        )
        return DurableFuture(self._driver, index, decode_with(serde))

    # -- timers --------------------------------------------------------------

    def sleep(self, delta: timedelta, name: str | None = None) -> RestateDurableSleepFuture:
        if not isinstance(delta, timedelta):
            raise TypeError(f"ctx.sleep needs a timedelta, got {type(delta).__name__}")
        millis = max(0, int(delta.total_seconds() * 1000))
        index, _, _ = self._driver.issue(
            lambda _i: SleepCommand(wake_up_time_ms=self._driver.now_ms() + millis, name=name)
        )
        return SleepFuture(self._driver, index, decode_with(BytesSerde()))

    # -- calls and sends -----------------------------------------------------

    def _callee_id(
        self,
        index: int,
        service: str,
        handler: str,
        key: str | None,
        idempotency_key: str | None,
        workflow_main: bool,
    ) -> str:
        if idempotency_key is not None:
            return _ids.idempotent_invocation_id(service, handler, key, idempotency_key)
        if workflow_main and key is not None:
            return _ids.workflow_invocation_id(service, key)
        return _ids.child_invocation_id(self._driver.invocation.invocation_id, index, service, key)

    def _target(self, tpe: object, expected: ServiceType, key: str | None) -> HandlerDefinition:
        target = handler_definition_of(tpe)
        if target.service_type is not expected:
            raise TypeError(
                f"{target.service_name}.{target.name} is a {target.service_type.value} handler; "
                f"use {_WRONG_TARGET[target.service_type]}"
            )
        if expected is not ServiceType.SERVICE and not isinstance(key, str):
            raise TypeError(f"calling {target.service_name}.{target.name} needs a str key")
        return target

    def _call(
        self,
        service: str,
        handler: str,
        key: str | None,
        param: bytes,
        idempotency_key: str | None,
        headers: dict[str, str] | None,
        output_serde: Serde[Any],
        workflow_main: bool = False,
    ) -> CallFuture[Any]:
        index, cmd, _ = self._driver.issue(
            lambda i: CallCommand(
                service=service,
                handler=handler,
                key=key,
                param=param,
                headers=dict(headers or {}),
                idempotency_key=idempotency_key,
                invocation_id=self._callee_id(
                    i, service, handler, key, idempotency_key, workflow_main
                ),
            )
        )
        assert isinstance(cmd, CallCommand)
        self._driver.register_call(index, cmd.invocation_id)
        return CallFuture(self._driver, index, decode_with(output_serde), cmd.invocation_id)

    def _send(
        self,
        service: str,
        handler: str,
        key: str | None,
        param: bytes,
        send_delay: timedelta | None,
        idempotency_key: str | None,
        headers: dict[str, str] | None,
        workflow_main: bool = False,
    ) -> SendHandle:
        delay = _delay_ms(send_delay)
        _, cmd, _ = self._driver.issue(
            lambda i: SendCommand(
                service=service,
                handler=handler,
                key=key,
                param=param,
                headers=dict(headers or {}),
                idempotency_key=idempotency_key,
                invoke_time_ms=None if delay is None else self._driver.now_ms() + delay,
                invocation_id=self._callee_id(
                    i, service, handler, key, idempotency_key, workflow_main
                ),
            )
        )
        assert isinstance(cmd, SendCommand)
        return SendHandleImpl(self._driver, cmd.invocation_id)

    def service_call(
        self,
        tpe: HandlerType[I, O],
        arg: I,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> RestateDurableCallFuture[O]:
        t = self._target(tpe, ServiceType.SERVICE, None)
        return self._call(
            t.service_name,
            t.name,
            None,
            t.input_serde.serialize(arg),
            idempotency_key,
            headers,
            t.output_serde,
        )

    def service_send(
        self,
        tpe: HandlerType[I, O],
        arg: I,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> SendHandle:
        t = self._target(tpe, ServiceType.SERVICE, None)
        return self._send(
            t.service_name,
            t.name,
            None,
            t.input_serde.serialize(arg),
            send_delay,
            idempotency_key,
            headers,
        )

    def object_call(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> RestateDurableCallFuture[O]:
        t = self._target(tpe, ServiceType.VIRTUAL_OBJECT, key)
        return self._call(
            t.service_name,
            t.name,
            key,
            t.input_serde.serialize(arg),
            idempotency_key,
            headers,
            t.output_serde,
        )

    def object_send(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> SendHandle:
        t = self._target(tpe, ServiceType.VIRTUAL_OBJECT, key)
        return self._send(
            t.service_name,
            t.name,
            key,
            t.input_serde.serialize(arg),
            send_delay,
            idempotency_key,
            headers,
        )

    def workflow_call(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> RestateDurableCallFuture[O]:
        t = self._target(tpe, ServiceType.WORKFLOW, key)
        main = t.kind is HandlerKind.WORKFLOW
        return self._call(
            t.service_name,
            t.name,
            key,
            t.input_serde.serialize(arg),
            None if main else idempotency_key,
            headers,
            t.output_serde,
            workflow_main=main,
        )

    def workflow_send(
        self,
        tpe: HandlerType[I, O],
        key: str,
        arg: I,
        send_delay: timedelta | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> SendHandle:
        t = self._target(tpe, ServiceType.WORKFLOW, key)
        main = t.kind is HandlerKind.WORKFLOW
        return self._send(
            t.service_name,
            t.name,
            key,
            t.input_serde.serialize(arg),
            send_delay,
            None if main else idempotency_key,
            headers,
            workflow_main=main,
        )

    def generic_call(
        self,
        service: str,
        handler: str,
        arg: bytes,
        key: str | None = None,
        idempotency_key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> RestateDurableCallFuture[bytes]:
        return self._call(service, handler, key, bytes(arg), idempotency_key, headers, BytesSerde())

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
        return self._send(service, handler, key, bytes(arg), send_delay, idempotency_key, headers)

    # -- awakeables and other invocations ------------------------------------

    def awakeable(
        self,
        serde: Serde[T] = DefaultSerde(),  # noqa: B008 - never mutated
        type_hint: type[T] | None = None,
    ) -> tuple[str, RestateDurableFuture[T]]:
        decode = decode_with(_typed(serde, type_hint))
        remote_id = self._driver.remote_id
        if remote_id is not None:
            # Under the service protocol an awakeable is a signal, not a command (ADR 0021).
            signal = self._driver.next_awakeable_signal()
            return signal_awakeable_id(remote_id, signal), DurableFuture(
                self._driver, -signal, decode
            )
        parent = self._driver.invocation.invocation_id
        index, cmd, _ = self._driver.issue(
            lambda i: AwakeableCommand(id=_ids.awakeable_id(parent, i))
        )
        assert isinstance(cmd, AwakeableCommand)
        return cmd.id, DurableFuture(self._driver, index, decode)

    def resolve_awakeable(
        self,
        name: str,
        value: I,
        serde: Serde[I] = DefaultSerde(),  # noqa: B008 - never mutated
    ) -> None:
        self._check_awakeable_id(name)
        data = serde.serialize(value)
        self._driver.issue(lambda _i: CompleteAwakeableCommand(id=name, result=Value(data)))

    def reject_awakeable(self, name: str, failure_message: str, failure_code: int = 500) -> None:
        self._check_awakeable_id(name)
        self._driver.issue(
            lambda _i: CompleteAwakeableCommand(
                id=name, result=Failure(failure_code, failure_message)
            )
        )

    def _check_awakeable_id(self, name: str) -> None:
        """rt's in-process ids; under the service protocol also remote SDKs' ``sign_1`` ids."""
        if self._driver.remote_id is not None and name.startswith(SIGNAL_AWAKEABLE_PREFIX):
            try:
                parse_signal_awakeable_id(name)
            except ValueError as e:
                raise TerminalError(str(e), status_code=400) from None
            return
        _check_id(_ids.parse_awakeable_id, name)

    # -- named signals ----------------------------------------------------------

    def signal(
        self,
        name: str,
        serde: Serde[T] = DefaultSerde(),  # noqa: B008 - never mutated
        type_hint: type[T] | None = None,
    ) -> RestateDurableFuture[T]:
        if self._driver.remote_id is not None:
            # Behind the protocol a wait for a signal is no command (ADR 0027).
            index = self._driver.await_named_signal(name)
        else:
            index, _, _ = self._driver.issue_command(SignalCommand(name=name))
        return DurableFuture(self._driver, index, decode_with(_typed(serde, type_hint)))

    def resolve_signal(
        self,
        invocation_id: str,
        name: str,
        value: I,
        serde: Serde[I] = DefaultSerde(),  # noqa: B008 - never mutated
    ) -> None:
        _check_id(_ids.parse_invocation_id, invocation_id)
        data = serde.serialize(value)
        self._driver.issue_command(
            SendSignalCommand(invocation_id=invocation_id, name=name, result=Value(data))
        )

    def reject_signal(
        self, invocation_id: str, name: str, failure_message: str, failure_code: int = 500
    ) -> None:
        _check_id(_ids.parse_invocation_id, invocation_id)
        failure = Failure(failure_code, failure_message)
        self._driver.issue_command(
            SendSignalCommand(invocation_id=invocation_id, name=name, result=failure)
        )

    def cancel_invocation(self, invocation_id: str) -> None:
        cancel(self._driver, invocation_id)

    def attach_invocation(
        self,
        invocation_id: str,
        serde: Serde[T] = DefaultSerde(),  # noqa: B008 - never mutated
        type_hint: type[T] | None = None,
    ) -> RestateDurableFuture[T]:
        _check_id(_ids.parse_invocation_id, invocation_id)
        index, _, _ = self._driver.issue(
            lambda _i: AttachInvocationCommand(invocation_id=invocation_id)
        )
        return DurableFuture(self._driver, index, decode_with(_typed(serde, type_hint)))


class _SharedObjectContext(_BaseContext, ObjectSharedContext):
    """Read-only keyed context."""

    def key(self) -> str:
        key = self._driver.invocation.key
        assert key is not None
        return key

    def get(
        self,
        name: str,
        serde: Serde[T] = DefaultSerde(),  # noqa: B008 - never mutated
        type_hint: type[T] | None = None,
        entry_name: str | None = None,
    ) -> RestateDurableFuture[T | None]:
        index, _, replayed = self._driver.issue_command(GetStateCommand(key=name))
        state = self._driver.state
        if not replayed and state is not None:
            data = state.get(name)
            self._driver.append_sdk_completion(index, Value(data) if data is not None else Void())
        return DurableFuture(self._driver, index, decode_with(_typed(serde, type_hint)))

    def state_keys(self, entry_name: str | None = None) -> RestateDurableFuture[list[str]]:
        index, _, replayed = self._driver.issue_command(GetStateKeysCommand())
        state = self._driver.state
        if not replayed and state is not None:
            self._driver.append_sdk_completion(index, StateKeys(sorted(state)))
        return DurableFuture(self._driver, index, decode_with(BytesSerde()))


class _ExclusiveObjectContext(_SharedObjectContext, ObjectContext):
    """Keyed context that can write state."""

    def set(
        self,
        name: str,
        value: T,
        serde: Serde[T] = DefaultSerde(),  # noqa: B008 - never mutated
        entry_name: str | None = None,
    ) -> None:
        data = serde.serialize(value)
        self._driver.issue_command(SetStateCommand(key=name, value=data))
        if self._driver.state is not None:
            self._driver.state[name] = data

    def clear(self, name: str, entry_name: str | None = None) -> None:
        self._driver.issue_command(ClearStateCommand(key=name))
        if self._driver.state is not None:
            self._driver.state.pop(name, None)

    def clear_all(self, entry_name: str | None = None) -> None:
        self._driver.issue_command(ClearAllStateCommand())
        self._driver.state = {}


def _check_id(parse: Callable[[str], object], text: str) -> None:
    """A malformed awakeable/invocation id is the handler's bug: fail it terminally (400)."""
    try:
        parse(text)
    except _ids.InvalidIdError as e:
        raise TerminalError(str(e), status_code=400) from None


def _promise(
    ctx: _BaseContext, name: str, serde: Serde[Any], type_hint: Any
) -> DurablePromise[Any]:
    ctx._driver.check_usable()
    return DurablePromiseImpl(ctx._driver, name, _typed(serde, type_hint))


class _WorkflowContext(_ExclusiveObjectContext, WorkflowContext):
    """A workflow's main handler context."""

    def promise(
        self,
        name: str,
        serde: Serde[T] = DefaultSerde(),  # noqa: B008 - never mutated
        type_hint: type[T] | None = None,
    ) -> DurablePromise[T]:
        return _promise(self, name, serde, type_hint)


class _WorkflowSharedContext(_SharedObjectContext, WorkflowSharedContext):
    """A workflow's shared handler context."""

    def promise(
        self,
        name: str,
        serde: Serde[T] = DefaultSerde(),  # noqa: B008 - never mutated
        type_hint: type[T] | None = None,
    ) -> DurablePromise[T]:
        return _promise(self, name, serde, type_hint)


_CONTEXT_CLASSES: dict[tuple[ServiceType, HandlerKind | None], type[_BaseContext]] = {
    (ServiceType.SERVICE, None): _BaseContext,
    (ServiceType.VIRTUAL_OBJECT, HandlerKind.EXCLUSIVE): _ExclusiveObjectContext,
    (ServiceType.VIRTUAL_OBJECT, HandlerKind.SHARED): _SharedObjectContext,
    (ServiceType.WORKFLOW, HandlerKind.WORKFLOW): _WorkflowContext,
    (ServiceType.WORKFLOW, HandlerKind.SHARED): _WorkflowSharedContext,
}


_CLASS_OF: dict[int, tuple[HandlerDefinition, type[_BaseContext]]] = {}
"""The context class per handler definition (by identity; enum hashing is Python code)."""


def make_context(driver: InvocationDriver, handler: HandlerDefinition) -> Context:
    """The context object for one attempt of ``handler``."""
    known = _CLASS_OF.get(id(handler))
    if known is None or known[0] is not handler:
        known = (handler, _CONTEXT_CLASSES[(handler.service_type, handler.kind)])
        _CLASS_OF[id(handler)] = known
    return known[1](driver)
