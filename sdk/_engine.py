"""The invocation driver: runs one handler attempt against its journal (sans-IO).

The runtime creates an :class:`InvocationDriver` per attempt and calls
:meth:`InvocationDriver.advance` until it returns :class:`Done` or
:class:`Failed`; on :class:`Blocked` it persists the new entries, then calls
``advance`` again with completions and/or a durability acknowledgement (live
resumption) -- or drops the driver and later builds a new one from the full
journal (fresh replay). No Kafka, Redis or HTTP in here: golden journal tests
drive it directly. The contract is written down in
``docs/decisions/0003-journal-and-replay-engine.md``.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import random
import time
import traceback
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeAlias

import tenacity

from sdk._definitions import HandlerDefinition
from sdk._journal import (
    NOTIFICATION_TYPES,
    CancelInvocationCommand,
    Command,
    Completion,
    Failure,
    InputCommand,
    JournalEntry,
    Notification,
    OutputCommand,
    Result,
    Value,
)
from sdk._machine import (
    NON_DETERMINISM_CODE,
    PROTOCOL_VIOLATION_CODE,
    JournalMachine,
    JournalMismatch,
    ProtocolViolation,
    Step,
    Visible,
)
from sdk.context import AttemptFinishedEvent, RunOptions
from sdk.exceptions import (
    NonDeterminismError,
    RetryableError,
    SdkInternalBaseException,
    SuspendedException,
    TerminalError,
)
from sdk.serde import Serde

# How many event-loop turns without SDK activity count as "settled" when some
# task is neither parked on the SDK nor done (raw asyncio concurrency in handlers).
_SETTLE_ROUNDS = 8

_current_driver: contextvars.ContextVar[InvocationDriver | None] = contextvars.ContextVar(
    "rt_current_driver", default=None
)
_in_run_action: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "rt_in_run_action", default=False
)


# ---------------------------------------------------------------------------
# The driver contract: input and output types.


@dataclass(frozen=True, kw_only=True)
class InvocationDescriptor:
    """What the runtime knows about the invocation being run.

    Attributes:
        invocation_id: The invocation id (``inv_...``).
        service: Target service name (must match the handler definition).
        handler: Target handler name (must match the handler definition).
        key: Object key / workflow id; required for keyed services, None otherwise.
        headers: Request headers (used when the journal is empty).
        input: Request body (used when the journal is empty).
        attempt: Attempt number, 1 for the first attempt.
        random_seed: Seed of ``ctx.random()``; the same on every attempt.
        eager_state: Snapshot of the object's/workflow's whole state, or None.
            With a snapshot (and lazy state off) ``get``/``state_keys`` are
            answered by the SDK; without one they wait for the runtime.
        idempotency_key: The idempotency key of the request, if any.
    """

    invocation_id: str
    service: str
    handler: str
    key: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    input: bytes = b""
    attempt: int = 1
    random_seed: int = 0
    eager_state: Mapping[str, bytes] | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Blocked:
    """The handler waits for something only the runtime can provide.

    Attributes:
        awaiting: Command indexes whose completion lets the handler go on (any
            of them; the cancellation signal always does too).
        needs_ack: The new entries include ``ctx.run`` results: make them
            durable, then call ``advance(durable=True)``; the handler does not
            see them before.
        resumable: False when the driver has closed itself (always-replay mode):
            persist the entries and build a new driver from the full journal.
    """

    awaiting: frozenset[int]
    needs_ack: bool
    resumable: bool = True


@dataclass(frozen=True)
class Done:
    """The handler ended: ``output`` (also the last new entry unless replayed) is final."""

    output: OutputCommand

    @property
    def failure(self) -> Failure | None:
        """The terminal failure, or None on success."""
        return self.output.result if isinstance(self.output.result, Failure) else None

    @property
    def value(self) -> bytes | None:
        """The serialized output on success, else None."""
        return self.output.result.data if isinstance(self.output.result, Value) else None


@dataclass(frozen=True)
class Failed:
    """The attempt failed and should be retried (the journal so far is kept).

    Attributes:
        code: Error code: 500 for handler exceptions, a ``RetryableError``'s
            ``status_code``, 570 for non-determinism, 571 for a malformed journal.
        message: What went wrong; for non-determinism it names the command
            index, the journaled command and the issued one.
        retry_after: Delay requested by a ``RetryableError``, if any.
        command_index: The related command, when known.
        stacktrace: The handler's traceback, when there is one.
    """

    code: int
    message: str
    retry_after: timedelta | None = None
    command_index: int | None = None
    stacktrace: str | None = None


Status: TypeAlias = Blocked | Done | Failed

TopicCheck: TypeAlias = Callable[[str], str | None]
"""Returns an error message when a topic cannot take records (unknown, internal), else None."""


@dataclass(frozen=True)
class Progress:
    """What one :meth:`InvocationDriver.advance` call produced.

    Attributes:
        new_entries: Entries the SDK produced in this call, in order: commands,
            state reads answered from the snapshot, ``ctx.run`` results (last).
        journal_delta: Everything appended to the driver's journal since the
            previous ``Progress``: the notifications passed in, then
            ``new_entries``. Persisting exactly this keeps the runtime's journal
            equal to the driver's.
        status: :class:`Blocked`, :class:`Done` or :class:`Failed`.
        journal_length: Length of the driver's journal after this call.
    """

    new_entries: tuple[JournalEntry, ...]
    journal_delta: tuple[JournalEntry, ...]
    status: Status
    journal_length: int


class DriverClosedError(RuntimeError):
    """``advance`` was called on a driver that was closed (a runtime bug)."""


# ---------------------------------------------------------------------------
# Internals.


@dataclass
class _Waiter:
    indexes: tuple[int, ...]
    wait_all: bool
    future: asyncio.Future[None]
    task: asyncio.Task[Any] | None


@dataclass
class RunSpec:
    """A ``ctx.run`` action waiting to be started when first awaited."""

    name: str
    call: Callable[[], Awaitable[Any]]
    serde: Serde[Any]
    options: RunOptions[Any]


class _RunExhausted(Exception):  # noqa: N818 - internal signal
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class _HandlerOutcome:
    result: Value | Failure | None = None
    failed: Failed | None = None


class _AttemptFinished(AttemptFinishedEvent):
    def __init__(self) -> None:
        self._set = False
        self._event: asyncio.Event | None = None

    def is_set(self) -> bool:
        return self._set

    async def wait(self) -> None:
        if self._set:
            return
        if self._event is None:
            self._event = asyncio.Event()
        await self._event.wait()

    def set(self) -> None:
        self._set = True
        if self._event is not None:
            self._event.set()


class _RunWait:
    """Exponential backoff between ``ctx.run`` retries; ``RetryableError.retry_after`` wins."""

    def __init__(self, initial: float, factor: float, maximum: float) -> None:
        self.initial, self.factor, self.maximum = initial, factor, maximum

    def __call__(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, RetryableError) and exc.retry_after is not None:
            return max(0.0, exc.retry_after.total_seconds())
        return float(min(self.initial * self.factor ** (state.attempt_number - 1), self.maximum))


def _cancel_command(invocation_id: str, _index: int) -> Command:
    return CancelInvocationCommand(invocation_id=invocation_id)


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, Exception) and not isinstance(exc, TerminalError)


def _describe_exception(e: BaseException) -> str:
    text = str(e)
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _stacktrace(e: BaseException) -> str:
    return "".join(traceback.format_exception(type(e), e, e.__traceback__))


def current_driver() -> InvocationDriver | None:
    """The driver whose handler is running in this task, if any."""
    return _current_driver.get()


# ---------------------------------------------------------------------------
# The driver.


class InvocationDriver:
    """Runs one attempt of a handler against its journal; see the module docstring.

    Args:
        handler: The handler to run.
        invocation: The invocation descriptor.
        journal: The journal so far (durable), possibly empty; replayed first.
        always_replay: Close after every :class:`Blocked` so the runtime
            replays from scratch (default: the handler's effective
            ``inactivity_timeout == timedelta(0)``).
        clock: Wall clock in seconds (``time.time``), for sleeps, delayed
            sends and ``ctx.time()``.
        hold_runs: Start no ``ctx.run`` action until :meth:`release_runs`.
        topic_check: Asked by ``sdk.kafka.emit`` about the topic of each new
            (not replayed) emit, so that an unknown topic fails at the call;
            None checks only the name. Each driver carries its own, so the
            answer depends on the runtime that runs this attempt, never on
            what else ran in the process.

    Raises:
        ValueError: The descriptor does not match the handler (a runtime bug).

    Example:
        >>> driver = InvocationDriver(handler, descriptor, journal)  # doctest: +SKIP
        >>> progress = await driver.advance()  # doctest: +SKIP
        >>> persist(progress.journal_delta)  # doctest: +SKIP
        >>> progress = await driver.advance([completion], durable=True)  # doctest: +SKIP
    """

    def __init__(
        self,
        handler: HandlerDefinition,
        invocation: InvocationDescriptor,
        journal: Sequence[JournalEntry] = (),
        *,
        always_replay: bool | None = None,
        clock: Callable[[], float] = time.time,
        hold_runs: bool = False,
        topic_check: TopicCheck | None = None,
    ) -> None:
        if (invocation.service, invocation.handler) != (handler.service_name, handler.name):
            raise ValueError(
                f"descriptor targets {invocation.service}.{invocation.handler} but the handler "
                f"is {handler.service_name}.{handler.name}"
            )
        if handler.is_keyed and invocation.key is None:
            raise ValueError(f"{handler.service_name}.{handler.name} needs a key")
        self.handler = handler
        self.invocation = invocation
        self.always_replay = (
            handler.effective.always_replay if always_replay is None else always_replay
        )
        self.clock = clock
        self.topic_check = topic_check
        self._fatal: Failed | None = None
        try:
            self._machine = JournalMachine(journal)
        except ProtocolViolation as e:
            self._machine = JournalMachine(())
            self._fatal = Failed(PROTOCOL_VIOLATION_CODE, str(e))
        self._delta_start = len(self._machine.journal)
        self._main: asyncio.Task[_HandlerOutcome] | None = None
        self._parked: list[_Waiter] = []
        self._known_tasks: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
        self._run_specs: dict[int, RunSpec] = {}
        self._hold_runs = hold_runs
        self._held_runs: dict[int, RunSpec] = {}
        """``ctx.run`` actions awaited while runs are held: started by :meth:`release_runs`."""
        self._inflight: dict[int, asyncio.Task[None]] = {}
        self._pending_results: list[Completion] = []
        self._calls: dict[int, str] = {}
        self._final: Status | None = None
        self._closed = False
        self._advancing = False
        self._event: asyncio.Event | None = None
        self._activity = 0
        self._random: random.Random | None = None
        self.attempt_finished = _AttemptFinished()
        lazy = handler.effective.enable_lazy_state or invocation.eager_state is None
        self.state: dict[str, bytes] | None = (
            None if lazy or not handler.is_keyed else dict(invocation.eager_state or {})
        )
        self.input_command: InputCommand | None = None

    # -- public, for the runtime --------------------------------------------

    @property
    def random(self) -> random.Random:
        """``ctx.random()``'s generator, seeded on first use: seeding costs ~30 µs, and
        most handlers never draw a random number."""
        if self._random is None:
            self._random = random.Random(self.invocation.random_seed)  # noqa: S311 - determinism
        return self._random

    @property
    def journal(self) -> tuple[JournalEntry, ...]:
        """The driver's journal: what the runtime's journal must equal."""
        return tuple(self._machine.journal)

    @property
    def is_replaying(self) -> bool:
        """True while the handler re-issues journaled commands."""
        return self._machine.replaying

    @property
    def finished(self) -> bool:
        """True once the driver returned :class:`Done` or :class:`Failed`, or was closed."""
        return self._final is not None or self._closed

    async def advance(
        self, notifications: Sequence[Notification] = (), *, durable: bool = False
    ) -> Progress:
        """Run the handler until it ends or blocks; never raises for handler errors.

        Args:
            notifications: Completions/cancel signals recorded since the last
                call, in the order the runtime recorded them. They are
                appended to the journal before anything this call produces.
            durable: Everything returned by earlier calls is now durable; lets
                the handler observe ``ctx.run`` results.

        Returns:
            The new entries and the status.

        Raises:
            DriverClosedError: The driver was closed (always-replay mode after
                a Blocked, or :meth:`close`): build a new one instead.
            RuntimeError: Another ``advance`` call on this driver is running.
        """
        if self._final is not None:
            return self._progress(self._final)
        if self._closed:
            raise DriverClosedError("this driver is closed; replay with a new driver")
        if self._advancing:
            raise RuntimeError("advance() is already running on this driver")
        self._advancing = True
        try:
            return await self._advance(notifications, durable)
        finally:
            self._advancing = False

    async def _advance(self, notifications: Sequence[Notification], durable: bool) -> Progress:
        loop = asyncio.get_running_loop()
        if self._event is None:
            self._event = asyncio.Event()
        if durable:
            self._machine.ack()
        for n in notifications:
            if not isinstance(n, NOTIFICATION_TYPES):
                raise TypeError(f"advance() takes notifications, got {type(n).__name__}")
            self._machine.append_notification(n)
        new_from = len(self._machine.journal)
        if self._fatal is None and self._main is None:
            self._start(loop)
        status = await self._run_until_settled()
        return self._progress(status, new_from)

    def release_runs(self) -> None:
        """Start the ``ctx.run`` actions held so far, and any awaited from now on.

        A runtime that starts an attempt before it is sure the attempt will count (a
        speculative attempt, ADR 0013) builds the driver with ``hold_runs=True``: the
        handler runs up to its first awaited ``ctx.run`` and blocks there, so nothing of
        it reaches the outside world until the runtime calls this. Call ``advance`` next
        to collect the results.
        """
        self._hold_runs = False
        held, self._held_runs = self._held_runs, {}
        for index, spec in held.items():
            self._start_run(index, spec)

    async def close(self) -> None:
        """Evict the handler: its pending awaits raise an internal suspension.

        Idempotent. After closing, the runtime resumes the invocation by
        replaying with a new driver.
        """
        if not self._closed:
            await self._teardown()

    # -- the loop ------------------------------------------------------------

    def _progress(self, status: Status, new_from: int | None = None) -> Progress:
        journal = self._machine.journal
        start = self._delta_start if new_from is None else max(new_from, self._delta_start)
        delta = tuple(journal[self._delta_start :])
        new = tuple(journal[start:]) if new_from is not None else ()
        self._delta_start = len(journal)
        return Progress(
            new_entries=new, journal_delta=delta, status=status, journal_length=len(journal)
        )

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            _, cmd, _ = self._machine.issue(
                lambda _i: InputCommand(
                    headers=dict(self.invocation.headers), body=self.invocation.input
                )
            )
        except JournalMismatch as e:
            self._fatal = Failed(NON_DETERMINISM_CODE, e.message, command_index=e.command_index)
            return
        assert isinstance(cmd, InputCommand)
        self.input_command = cmd
        ctx = contextvars.copy_context()
        ctx.run(_current_driver.set, self)
        self._main = loop.create_task(self._run_handler(cmd), context=ctx)
        self._known_tasks.add(self._main)
        self._main.add_done_callback(self._on_main_done)

    def _on_main_done(self, task: asyncio.Task[_HandlerOutcome]) -> None:
        if not task.cancelled():
            task.exception()  # retrieved: the outcome is read by _finish
        self._poke()

    async def _run_until_settled(self) -> Status:
        while True:
            await self._quiescent()
            if self._fatal is not None:
                return await self._finish_failed(self._fatal)
            if self._main is not None and self._main.done():
                return await self._finish_main(self._main)
            stuck_at = self._pump()
            if stuck_at is None:
                continue
            if stuck_at is Step.COMMAND_AHEAD:
                self._set_fatal(self._stuck_in_replay())
                continue
            needs_ack = self._flush_run_results()
            awaiting = frozenset(
                i for w in self._parked for i in w.indexes if i not in self._machine.visible
            )
            if self.always_replay:
                await self._teardown()
                return Blocked(awaiting, needs_ack, resumable=False)
            return Blocked(awaiting, needs_ack)

    async def _quiescent(self) -> None:
        assert self._event is not None
        while True:
            if self._fatal is not None or self._main is None or self._main.done():
                return
            if not self._inflight and self._parked:
                if self._all_known_parked() or await self._settled():
                    return
                continue
            self._event.clear()
            await self._event.wait()

    def _all_known_parked(self) -> bool:
        parked = {w.task for w in self._parked}
        return all(t in parked for t in self._known_tasks if not t.done())

    async def _settled(self) -> bool:
        before = self._activity
        for _ in range(_SETTLE_ROUNDS):
            await asyncio.sleep(0)
            if self._activity != before or self._fatal is not None:
                return False
        return True

    def _poke(self) -> None:
        self._activity += 1
        if self._event is not None:
            self._event.set()

    def _pump(self) -> Step | None:
        """Advance the cursor for parked awaits.

        Returns:
            None when a parked await was woken (let it run), else the step at
            which the cursor is stuck.
        """
        while True:
            if self._wake_satisfied():
                return None
            if self._machine.cancel_pending and self._parked:
                self._wake(self._parked[0])
                return None
            step = self._machine.step()
            if step not in (Step.NOTIFICATION, Step.SKIPPED):
                return step

    def _wake_satisfied(self) -> bool:
        woke = False
        for w in list(self._parked):
            if self._satisfied(w.indexes, w.wait_all):
                self._wake(w)
                woke = True
        return woke

    def _wake(self, w: _Waiter) -> None:
        if w in self._parked:
            self._parked.remove(w)
        if not w.future.done():
            w.future.set_result(None)
        self._poke()

    def _satisfied(self, indexes: Sequence[int], wait_all: bool) -> bool:
        visible = self._machine.visible
        if wait_all:
            return all(i in visible for i in indexes)
        return any(i in visible for i in indexes)

    def _stuck_in_replay(self) -> Failed:
        expected = self._machine.next_journaled_command()
        awaited = sorted({i for w in self._parked for i in w.indexes})
        described = ", ".join(
            f"{self._machine.command(i).describe()} (command {i})" for i in awaited
        )
        return Failed(
            NON_DETERMINISM_CODE,
            f"Non-deterministic journal at command {self._machine.next_command}: expected "
            f"{expected.describe() if expected else 'nothing'} but handler is awaiting "
            f"{described}, which the journal does not complete before that command",
            command_index=self._machine.next_command,
        )

    def _flush_run_results(self) -> bool:
        for completion in self._pending_results:
            self._machine.append_run_result(completion)
        self._pending_results.clear()
        return self._machine.barrier is not None

    async def _finish_main(self, task: asyncio.Task[_HandlerOutcome]) -> Status:
        if task.cancelled():
            return await self._finish_failed(Failed(500, "the handler task was cancelled"))
        exc = task.exception()
        if exc is not None:
            if isinstance(exc, SdkInternalBaseException):
                message = "the handler was interrupted by an internal SDK exception"
            else:
                message = f"handler raised {_describe_exception(exc)}"
            return await self._finish_failed(Failed(500, message, stacktrace=_stacktrace(exc)))
        outcome = task.result()
        if outcome.failed is not None or outcome.result is None:
            return await self._finish_failed(outcome.failed or Failed(500, "handler failed"))
        result = outcome.result
        self._flush_run_results()
        try:
            _, cmd, _ = self._machine.issue(lambda _i: OutputCommand(result=result))
        except JournalMismatch as e:
            return await self._finish_failed(
                Failed(NON_DETERMINISM_CODE, e.message, command_index=e.command_index)
            )
        assert isinstance(cmd, OutputCommand)
        self._final = Done(cmd)
        await self._teardown()
        return self._final

    async def _finish_failed(self, failed: Failed) -> Status:
        self._flush_run_results()
        self._final = failed
        await self._teardown()
        return failed

    async def _teardown(self) -> None:
        self._closed = True
        self.attempt_finished.set()
        for w in list(self._parked):
            self._parked.remove(w)
            if not w.future.done():
                w.future.set_exception(SuspendedException())
        for t in list(self._inflight.values()):
            t.cancel()
        for _ in range(3):
            if self._main is None or self._main.done():
                break
            await asyncio.sleep(0)
        if self._main is not None and not self._main.done():
            self._main.cancel()
        if self._inflight:
            await asyncio.gather(*self._inflight.values(), return_exceptions=True)

    def _set_fatal(self, failed: Failed) -> None:
        if self._fatal is None:
            self._fatal = failed
        self._poke()

    # -- the handler task ----------------------------------------------------

    async def _run_handler(self, input_cmd: InputCommand) -> _HandlerOutcome:
        from sdk._context import make_context  # cyclic at import time

        h = self.handler
        ctx = make_context(self, h)
        try:
            async with AsyncExitStack() as stack:
                for factory in h.context_managers:
                    await stack.enter_async_context(factory())
                if h.arity == 2:
                    try:
                        arg = h.input_serde.deserialize(input_cmd.body)
                    except Exception as e:
                        raise TerminalError(
                            f"Unable to parse an input argument. {e}", status_code=400
                        ) from e
                    value = await h.fn(ctx, arg)
                else:
                    value = await h.fn(ctx)
        except TerminalError as e:
            return _HandlerOutcome(Failure(e.status_code, e.message, dict(e.metadata or {})))
        except RetryableError as e:
            return _HandlerOutcome(
                failed=Failed(
                    e.status_code,
                    e.message,
                    retry_after=e.retry_after,
                    stacktrace=_stacktrace(e),
                )
            )
        except Exception as e:
            return _HandlerOutcome(
                failed=Failed(500, _describe_exception(e), stacktrace=_stacktrace(e))
            )
        try:
            data = h.output_serde.serialize(value)
        except Exception as e:
            return _HandlerOutcome(
                failed=Failed(
                    500,
                    f"Unable to serialize the output of {h.service_name}.{h.name}: "
                    f"{_describe_exception(e)}",
                    stacktrace=_stacktrace(e),
                )
            )
        return _HandlerOutcome(Value(data))

    # -- services for the context and futures ---------------------------------

    def check_usable(self) -> None:
        """Raise when the context cannot be used here (inside ``ctx.run``, or after the end)."""
        if _in_run_action.get():
            raise RuntimeError(
                "the context cannot be used inside a ctx.run action; return a value instead"
            )
        if self._closed or self._fatal is not None or self._final is not None:
            raise SuspendedException()

    def _touch(self) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._known_tasks.add(task)
        self._poke()

    def issue(self, build: Callable[[int], Command]) -> tuple[int, Command, bool]:
        """Issue a command (checked against the journal on replay).

        Raises:
            NonDeterminismError: The handler diverged from its journal.
            SuspendedException: The attempt is over.
        """
        self.check_usable()
        self._touch()
        try:
            result = self._machine.issue(build)
        except JournalMismatch as e:
            self._set_fatal(Failed(NON_DETERMINISM_CODE, e.message, command_index=e.command_index))
            raise NonDeterminismError(e.message) from None
        self._wake_satisfied()
        return result

    def append_sdk_completion(self, index: int, result: Result) -> None:
        """Journal a completion the SDK produced itself (state read from the snapshot)."""
        self._machine.append_notification(Completion(index, result))

    def completed_anywhere(self, index: int) -> bool:
        """True when the journal holds a completion of ``index`` (visible or not)."""
        return index in self._machine.completed_anywhere

    def visible(self, index: int) -> Visible | None:
        """The completion of ``index`` if the handler can see it."""
        return self._machine.visible.get(index)

    def register_call(self, index: int, invocation_id: str) -> None:
        """Remember a request-response call, for implicit cancellation."""
        self._calls[index] = invocation_id

    def register_run(self, index: int, spec: RunSpec) -> None:
        """Register a ``ctx.run`` action, started when first awaited (unless journaled)."""
        if index not in self._machine.completed_anywhere:
            self._run_specs[index] = spec

    def now_ms(self) -> int:
        """The wall clock in milliseconds."""
        return int(self.clock() * 1000)

    async def wait(self, indexes: Sequence[int], wait_all: bool) -> None:
        """Wait until the completions of ``indexes`` (all, or any) are visible.

        Raises:
            TerminalError: ``cancelled`` (409) when the cancellation signal comes first.
            SuspendedException: The attempt is being torn down.
        """
        self.check_usable()
        self._touch()
        for i in indexes:
            spec = self._run_specs.pop(i, None)
            if spec is not None:
                if self._hold_runs:
                    self._held_runs[i] = spec
                else:
                    self._start_run(i, spec)
        while True:
            if self._satisfied(indexes, wait_all):
                return
            if self._machine.consume_cancel():
                self._implicit_cancel()
                raise TerminalError("cancelled", status_code=409)
            step = self._machine.step()
            if step is Step.SKIPPED:
                continue
            if step is Step.NOTIFICATION:
                if self._satisfied(indexes, wait_all) or self._machine.cancel_pending:
                    continue
                if not self._wake_satisfied():
                    continue
            await self._park(indexes, wait_all)

    async def _park(self, indexes: Sequence[int], wait_all: bool) -> None:
        loop = asyncio.get_running_loop()
        waiter = _Waiter(tuple(indexes), wait_all, loop.create_future(), asyncio.current_task())
        self._parked.append(waiter)
        self._poke()
        try:
            await waiter.future
        finally:
            if waiter in self._parked:
                self._parked.remove(waiter)
        self.check_usable()

    def _implicit_cancel(self) -> None:
        for index, invocation_id in sorted(self._calls.items()):
            if index in self._machine.visible:
                continue
            self.issue(functools.partial(_cancel_command, invocation_id))
        self._calls.clear()

    # -- ctx.run ---------------------------------------------------------------

    def _start_run(self, index: int, spec: RunSpec) -> None:
        ctx = contextvars.copy_context()
        ctx.run(_in_run_action.set, True)
        task = asyncio.get_running_loop().create_task(self._execute_run(index, spec), context=ctx)
        self._inflight[index] = task
        self._poke()

    async def _execute_run(self, index: int, spec: RunSpec) -> None:
        result: Result
        try:
            value = await self._attempt_run(spec)
            result = Value(spec.serde.serialize(value))
        except TerminalError as e:
            result = Failure(e.status_code, e.message, dict(e.metadata or {}))
        except _RunExhausted as e:
            result = Failure(e.code, e.message)
        except RetryableError as e:
            self._set_fatal(
                Failed(
                    e.status_code,
                    f"ctx.run {spec.name!r} failed: {e.message}",
                    retry_after=e.retry_after,
                    command_index=index,
                    stacktrace=_stacktrace(e),
                )
            )
            return
        except Exception as e:
            self._set_fatal(
                Failed(
                    500,
                    f"ctx.run {spec.name!r} failed: {_describe_exception(e)}",
                    command_index=index,
                    stacktrace=_stacktrace(e),
                )
            )
            return
        finally:
            self._inflight.pop(index, None)
            self._poke()
        self._pending_results.append(Completion(index, result))

    async def _attempt_run(self, spec: RunSpec) -> Any:
        opts = spec.options
        if not opts.has_retry_policy():
            return await spec.call()
        stop: tenacity.stop.stop_base = tenacity.stop_never
        if opts.max_attempts is not None:
            stop = tenacity.stop_after_attempt(max(1, opts.max_attempts))
        max_duration = opts.max_duration or opts.max_retry_duration
        if max_duration is not None:
            stop = stop | tenacity.stop_after_delay(max_duration.total_seconds())
        wait = _RunWait(
            (opts.initial_retry_interval or timedelta(milliseconds=50)).total_seconds(),
            opts.retry_interval_factor if opts.retry_interval_factor is not None else 2.0,
            (opts.max_retry_interval or timedelta(seconds=10)).total_seconds(),
        )
        retrying = tenacity.AsyncRetrying(
            stop=stop,
            wait=wait,
            retry=tenacity.retry_if_exception(_retryable),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await spec.call()
        except TerminalError:
            raise
        except Exception as e:
            attempts = retrying.statistics.get("attempt_number", "?")
            code = e.status_code if isinstance(e, RetryableError) else 500
            raise _RunExhausted(
                code,
                f"ctx.run {spec.name!r} gave up after {attempts} attempts: "
                f"{_describe_exception(e)}",
            ) from e
        raise AssertionError("unreachable")  # pragma: no cover


def make_run_call(
    action: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]
) -> Callable[[], Awaitable[Any]]:
    """Wrap a sync or async action: sync ones run in the default executor."""
    bound = functools.partial(action, *args, **kwargs)
    if inspect.iscoroutinefunction(action) or inspect.iscoroutinefunction(bound):

        async def run_async() -> Any:
            return await bound()

        return run_async

    async def run_sync() -> Any:
        loop = asyncio.get_running_loop()
        ctx = contextvars.copy_context()
        result = await loop.run_in_executor(None, functools.partial(ctx.run, bound))
        if inspect.isawaitable(result):
            result = await result
        return result

    return run_sync
