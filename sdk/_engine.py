"""The invocation driver: runs one handler attempt against its journal (sans-IO).

The runtime creates an :class:`InvocationDriver` per attempt and calls
:meth:`InvocationDriver.advance` until it returns :class:`Done` or
:class:`Failed`; on :class:`Blocked` it persists the new entries, then calls
``advance`` again with completions and/or a durability acknowledgement (live
resumption) -- or drops the driver and later builds a new one from the full
journal (fresh replay). No Kafka, Redis or HTTP in here: golden journal tests
drive it directly. The contract is written down in
``docs/decisions/0003-journal-and-replay-engine.md``.

:meth:`InvocationDriver.run_inline` starts an attempt on the caller's stack instead
and finishes it there when nothing blocks, with the journal ``advance`` would write
(``docs/decisions/0019-inline-driver.md``); ``sdk._inline`` holds its asyncio side.
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
from collections.abc import Callable, Coroutine, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, TypeAlias, cast

import tenacity

from sdk._definitions import HandlerDefinition
from sdk._inline import TaskStandIn, continue_in_task
from sdk._inline import step as inline_step
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

FIRST_SIGNAL = 17
"""Signal indices 1-16 are the protocol's; remote awakeables are 17, 18, ..."""

REMOTE_SIGNAL_BASE = -1_000_000
"""Remote attempts: ``ctx.signal`` issues no command (the protocol has none); its k-th call
waits as the pseudo index ``REMOTE_SIGNAL_BASE - k`` (deterministic: the same order on
replay), completed by the k-th named signal of its name."""

SIGNAL_WAKE = -2
"""In :attr:`Blocked.awaiting`: the handler waits for a named signal (``ctx.signal``), so
any named signal that arrives must resume it. NEVER CHANGE (stored in suspensions)."""

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
            of them; the cancellation signal always does too), plus
            :data:`SIGNAL_WAKE` when one of them is a ``ctx.signal``: a named signal
            completes it without a completion of its index.
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
    action: BoundAction
    serde: Serde[Any]
    options: RunOptions[Any]


@dataclass(frozen=True)
class BoundAction:
    """A ``ctx.run`` action with its arguments bound (:func:`bind_run_action`).

    Attributes:
        fn: Calls the action: returns its value (sync) or a coroutine (async).
        is_async: ``fn`` is a coroutine function: awaited on the loop. A sync one
            runs in the loop's default executor, or on the caller's stack inside an
            inline run (ADR 0019).
    """

    fn: Callable[[], Any]
    is_async: bool


class _InlineRun:
    """An inline run on the stack (:meth:`InvocationDriver.run_inline`)."""

    __slots__ = ("loop", "defer_durability")

    def __init__(self, loop: asyncio.AbstractEventLoop, defer_durability: bool) -> None:
        self.loop = loop
        self.defer_durability = defer_durability


class _RunExhausted(Exception):  # noqa: N818 - internal signal
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _HandlerOutcome:
    """What the handler's coroutine ended with: a result for the Output, or a retryable
    failure (a plain class: one per invocation)."""

    __slots__ = ("result", "failed")

    def __init__(self, result: Value | Failure | None = None, failed: Failed | None = None) -> None:
        self.result = result
        self.failed = failed


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


_make_context: Callable[[InvocationDriver, HandlerDefinition], Any] | None = None
"""``sdk._context.make_context``, imported on first use (it imports this module)."""


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
        remote_id: Set when the attempt runs under Restate's service protocol (an
            SDK endpoint, ``sdk.app``): the ``StartMessage`` id. Awakeables are then
            signals of the invocation (no journal command; ids ``sign_1...`` built from
            this id) and ``sdk.kafka.emit`` sends to the built-in ``rt.Kafka`` service
            (ADR 0021). A signal's notification is ``Completion(-index, result)``.

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
        remote_id: bytes | None = None,
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
        self.remote_id = remote_id
        try:
            self._machine = JournalMachine(journal)
        except ProtocolViolation as e:
            self._machine = JournalMachine(())
            self._fatal = Failed(PROTOCOL_VIOLATION_CODE, str(e))
        self._delta_start = len(self._machine.journal)
        self._parked: list[_Waiter] = []
        self._run_specs: dict[int, RunSpec] = {}
        self._hold_runs = hold_runs
        self._held_runs: dict[int, RunSpec] = {}
        """``ctx.run`` actions awaited while runs are held: started by :meth:`release_runs`."""
        self._inflight: dict[int, asyncio.Task[None]] = {}
        self._pending_results: list[Completion] = []
        self._calls: dict[int, str] = {}
        lazy = handler.effective.enable_lazy_state or invocation.eager_state is None
        self.state: dict[str, bytes] | None = (
            None if lazy or not handler.is_keyed else dict(invocation.eager_state or {})
        )

    # Scalar state starts from these class-level defaults: a batch creates drivers
    # back to back, and every store in __init__ counts (ADR 0019).
    _fatal: Failed | None = None
    _main: asyncio.Task[_HandlerOutcome] | None = None
    _known_tasks_set: weakref.WeakSet[asyncio.Task[Any]] | None = None
    _final: Status | None = None
    _closed = False
    _advancing = False
    _inline: _InlineRun | None = None
    """Set while :meth:`run_inline` is on the stack."""
    _inline_used = False
    _handover_from: int | None = None
    """Journal position where an inline run that handed over started: the next
    ``advance`` reports the entries it produced."""
    _event: asyncio.Event | None = None
    _activity = 0
    _random: random.Random | None = None
    _attempt_finished: _AttemptFinished | None = None
    input_command: InputCommand | None = None
    """The invocation's Input command, once issued (replayed or new)."""
    _signals = 0
    """Awakeables created as signals so far in this execution (remote attempts)."""
    _named_waits: dict[int, str] | None = None
    """Remote attempts: the pseudo index of each ``ctx.signal`` -> its name."""

    # -- public, for the runtime --------------------------------------------

    @property
    def random(self) -> random.Random:
        """``ctx.random()``'s generator, seeded on first use: seeding costs ~30 µs, and
        most handlers never draw a random number."""
        if self._random is None:
            self._random = random.Random(self.invocation.random_seed)  # noqa: S311 - determinism
        return self._random

    @property
    def attempt_finished(self) -> AttemptFinishedEvent:
        """Set when this attempt ends (``ctx.request().attempt_finished_event``)."""
        if self._attempt_finished is None:
            self._attempt_finished = _AttemptFinished()
            if self._closed:
                self._attempt_finished.set()
        return self._attempt_finished

    @property
    def _known_tasks(self) -> weakref.WeakSet[asyncio.Task[Any]]:
        """Tasks that used the SDK (created on first use: inline runs need none)."""
        if self._known_tasks_set is None:
            self._known_tasks_set = weakref.WeakSet()
        return self._known_tasks_set

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
        inline_from, self._handover_from = self._handover_from, None
        inline_to = len(self._machine.journal)
        for n in notifications:
            if not isinstance(n, NOTIFICATION_TYPES):
                raise TypeError(f"advance() takes notifications, got {type(n).__name__}")
            self._machine.append_notification(n)
        new_from = len(self._machine.journal)
        if self._fatal is None and self._main is None:
            self._start(loop)
        status = await self._run_until_settled()
        progress = self._progress(status, new_from)
        if inline_from is None or inline_from == inline_to:
            return progress
        inline = tuple(self._machine.journal[inline_from:inline_to])
        return replace(progress, new_entries=inline + progress.new_entries)

    def run_inline(self, *, defer_durability: bool = False) -> Progress | None:
        """Start the attempt on the caller's stack; finish it there if nothing blocks.

        The handler's coroutine runs synchronously (no Task, no loop turn) for as long
        as every await it makes can be answered at once: state from the eager
        snapshot, ``set``/``clear``, ``random``/``uuid``/``time``, sends, and
        ``ctx.run`` actions that finish without awaiting real I/O (run here, sync ones
        included). The journal is the one :meth:`advance` would produce (ADR 0019).

        When the handler needs something that is not available now (a sleep, an
        awakeable, a promise, a call's result, an action awaiting I/O, an asyncio
        primitive of its own), the coroutine is handed to an asyncio Task where it
        stopped, and started actions go on in their own Tasks: nothing runs twice.
        The driver is then an ordinary live driver: call :meth:`advance` (without
        ``durable``), which returns the entries produced inline followed by its own.

        Call it on a fresh driver, instead of the first :meth:`advance`, from code
        running on the event loop that will run the rest.

        Args:
            defer_durability: Let the handler see ``ctx.run`` results before they
                are durable, so that it can go on inline past a ``ctx.run``. The
                caller then makes the returned entries durable before anything
                depending on them leaves the process (state, outputs, answers,
                outgoing calls): in batched execution the whole batch commits at
                once. Results produced after a hand-over follow the normal rule
                (``Blocked.needs_ack``). Without it, the inline run hands over at
                the first ``ctx.run`` result, and ``advance`` reports
                ``Blocked(needs_ack=True)`` as usual.

        Returns:
            The :class:`Progress` (:class:`Done` or :class:`Failed`) when the
            attempt ended inline; None when it was handed over.

        Raises:
            DriverClosedError: The driver was closed.
            RuntimeError: No event loop is running in this thread, or the attempt
                was already started (by ``advance`` or ``run_inline``).

        Example:
            >>> progress = driver.run_inline(defer_durability=True)  # doctest: +SKIP
            >>> if progress is None:  # it blocked: continue on the normal path
            ...     progress = await driver.advance()  # doctest: +SKIP
        """
        if self._final is not None:
            return self._progress(self._final)
        if self._closed:
            raise DriverClosedError("this driver is closed; replay with a new driver")
        if self._inline_used or self._main is not None or self._advancing:
            raise RuntimeError("run_inline() starts an attempt: call it once, before advance()")
        run = _InlineRun(asyncio.get_running_loop(), defer_durability)
        self._inline_used = True
        new_from = len(self._machine.journal)
        self._inline = run
        try:
            status = self._run_inline(run)
        finally:
            self._inline = None
        if status is None:
            self._handover_from = new_from
            return None
        return self._progress(status, new_from)

    def _run_inline(self, run: _InlineRun) -> Status | None:
        cmd = self._issue_input() if self._fatal is None else None
        if cmd is None:
            assert self._fatal is not None
            return self._conclude_inline(self._conclude_failed(self._fatal))
        ctx = contextvars.copy_context()
        ctx.run(_current_driver.set, self)
        stand_in = TaskStandIn()
        # Without context managers the handler's own coroutine is stepped (one frame
        # less than _run_handler's); the outcome mapping is the same.
        direct = not self.handler.context_managers
        try:
            coro: Coroutine[Any, Any, Any] = (
                ctx.run(self._call_handler, cmd) if direct else self._run_handler(cmd)
            )
            yielded = inline_step(run.loop, ctx, coro, stand_in)
        except StopIteration as stop:
            stand_in.finish()
            if stand_in.cancel_requested:  # a Task would end cancelled, not with the value
                return self._conclude_inline(self._conclude_exception(asyncio.CancelledError()))
            outcome = ctx.run(self._outcome_of_value, stop.value) if direct else stop.value
            return self._conclude_inline(self._conclude(outcome))
        except Exception as exc:
            stand_in.finish()
            if direct:
                return self._conclude_inline(self._conclude(self._outcome_of_exception(exc)))
            return self._conclude_inline(self._conclude_exception(exc))
        except BaseException as exc:
            stand_in.finish()
            status = self._conclude_inline(self._conclude_exception(exc))
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise  # as a Task would: the failure is recorded, the signal goes on
            return status
        # Blocked for real: the rest runs in a Task, from where the coroutine stopped.
        rest = (
            self._run_handler(cmd, (coro, yielded)) if direct else continue_in_task(coro, yielded)
        )
        task = run.loop.create_task(rest, context=ctx)
        stand_in.bind(task)
        for w in self._parked:
            if w.task is stand_in:  # type: ignore[comparison-overlap]
                w.task = task
        self._main = task
        self._known_tasks.add(task)
        task.add_done_callback(self._on_main_done)
        return None

    def _conclude_inline(self, status: Status) -> Status:
        """:meth:`_teardown` for an attempt that ended inline: no Task to wait for."""
        self._closed = True
        if self._attempt_finished is not None:
            self._attempt_finished.set()
        for w in self._parked:
            if not w.future.done():
                w.future.set_exception(SuspendedException())
        self._parked.clear()
        for t in self._inflight.values():
            t.cancel()
        return status

    def _run_action_inline(self, run: _InlineRun, index: int, spec: RunSpec) -> None:
        """Run a ``ctx.run`` action on the caller's stack; a Task continues it if it blocks."""
        coro = self._execute_run(index, spec)
        ctx = contextvars.copy_context()  # the handler's: we are inside its inline step
        ctx.run(_in_run_action.set, True)
        stand_in = TaskStandIn()
        try:
            yielded = inline_step(run.loop, ctx, coro, stand_in)
        except StopIteration:
            stand_in.finish()
            return  # the result is in _pending_results, or the failure in _fatal
        task = run.loop.create_task(continue_in_task(coro, yielded), context=ctx)
        stand_in.bind(task)
        self._inflight[index] = task

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
        return Progress(new, delta, status, len(journal))

    def _issue_input(self) -> InputCommand | None:
        """Issue (or replay) the Input command; None (and ``_fatal`` set) on a mismatch."""
        machine = self._machine
        if machine.command_positions:  # journaled (checked at construction): replay it
            issued = machine.command(0)
        else:
            issued = InputCommand(headers=dict(self.invocation.headers), body=self.invocation.input)
        try:
            _, cmd, _ = machine.issue_command(issued)
        except JournalMismatch as e:
            self._fatal = Failed(NON_DETERMINISM_CODE, e.message, command_index=e.command_index)
            return None
        assert isinstance(cmd, InputCommand)
        self.input_command = cmd
        return cmd

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        cmd = self._issue_input()
        if cmd is None:
            return
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
            if not awaiting.isdisjoint(self._machine.signal_commands):
                awaiting |= {SIGNAL_WAKE}
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
        if not self._parked:
            return False
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
        if len(indexes) == 1:
            return indexes[0] in visible
        if wait_all:
            return all(i in visible for i in indexes)
        return any(i in visible for i in indexes)

    def _stuck_in_replay(self) -> Failed:
        expected = self._machine.next_journaled_command()
        awaited = sorted({i for w in self._parked for i in w.indexes})
        described = ", ".join(self._describe_awaited(i) for i in awaited)
        return Failed(
            NON_DETERMINISM_CODE,
            f"Non-deterministic journal at command {self._machine.next_command}: expected "
            f"{expected.describe() if expected else 'nothing'} but handler is awaiting "
            f"{described}, which the journal does not complete before that command",
            command_index=self._machine.next_command,
        )

    def _describe_awaited(self, index: int) -> str:
        if index >= 0:
            return f"{self._machine.command(index).describe()} (command {index})"
        name = self.named_signal_waits.get(index)
        if name is not None:
            return f"named signal {name!r}"
        return f"an awakeable (signal {-index})"

    def _flush_run_results(self) -> bool:
        for completion in self._pending_results:
            self._machine.append_run_result(completion)
        self._pending_results.clear()
        return self._machine.barrier is not None

    async def _finish_main(self, task: asyncio.Task[_HandlerOutcome]) -> Status:
        if task.cancelled():
            status = self._conclude_exception(asyncio.CancelledError())
        else:
            exc = task.exception()
            status = (
                self._conclude_exception(exc) if exc is not None else self._conclude(task.result())
            )
        await self._teardown()
        return status

    async def _finish_failed(self, failed: Failed) -> Status:
        self._conclude_failed(failed)
        await self._teardown()
        return failed

    # The outcome of the handler's coroutine, the same whether a Task or an inline
    # run drove it; the callers tear down.

    def _conclude(self, outcome: _HandlerOutcome) -> Status:
        if self._fatal is not None:
            return self._conclude_failed(self._fatal)
        if outcome.failed is not None or outcome.result is None:
            return self._conclude_failed(outcome.failed or Failed(500, "handler failed"))
        result = outcome.result
        if self._pending_results:
            self._flush_run_results()
        try:
            _, cmd, _ = self._machine.issue_command(OutputCommand(result=result))
        except JournalMismatch as e:
            return self._conclude_failed(
                Failed(NON_DETERMINISM_CODE, e.message, command_index=e.command_index)
            )
        assert isinstance(cmd, OutputCommand)
        self._final = Done(cmd)
        return self._final

    def _conclude_exception(self, exc: BaseException) -> Status:
        if self._fatal is not None:
            return self._conclude_failed(self._fatal)
        if isinstance(exc, asyncio.CancelledError):
            return self._conclude_failed(Failed(500, "the handler task was cancelled"))
        if isinstance(exc, SdkInternalBaseException):
            message = "the handler was interrupted by an internal SDK exception"
        else:
            message = f"handler raised {_describe_exception(exc)}"
        return self._conclude_failed(Failed(500, message, stacktrace=_stacktrace(exc)))

    def _conclude_failed(self, failed: Failed) -> Status:
        if self._pending_results:
            self._flush_run_results()
        self._final = failed
        return failed

    async def _teardown(self) -> None:
        self._closed = True
        if self._attempt_finished is not None:
            self._attempt_finished.set()
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

    def _call_handler(self, input_cmd: InputCommand) -> Coroutine[Any, Any, Any]:
        global _make_context
        if _make_context is None:
            from sdk._context import make_context  # cyclic at import time

            _make_context = make_context
        h = self.handler
        ctx = _make_context(self, h)
        fn = cast("Callable[..., Coroutine[Any, Any, Any]]", h.fn)  # checked at decoration
        if h.arity != 2:
            return fn(ctx)
        try:
            arg = h.input_serde.deserialize(input_cmd.body)
        except Exception as e:
            raise TerminalError(f"Unable to parse an input argument. {e}", status_code=400) from e
        return fn(ctx, arg)

    async def _run_handler(
        self,
        input_cmd: InputCommand,
        started: tuple[Coroutine[Any, Any, Any], Any] | None = None,
    ) -> _HandlerOutcome:
        """The handler's coroutine with its outcome as a value (never raises ``Exception``).

        ``started``: an inline run's handler coroutine and what it is suspended on, to
        continue from there instead of calling the handler.
        """
        try:
            if started is not None:
                value = await continue_in_task(*started)
            elif managers := self.handler.context_managers:
                async with AsyncExitStack() as stack:
                    for factory in managers:
                        await stack.enter_async_context(factory())
                    value = await self._call_handler(input_cmd)
            else:
                value = await self._call_handler(input_cmd)
        except Exception as e:
            return self._outcome_of_exception(e)
        return self._outcome_of_value(value)

    def _outcome_of_value(self, value: Any) -> _HandlerOutcome:
        h = self.handler
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

    @staticmethod
    def _outcome_of_exception(e: Exception) -> _HandlerOutcome:
        if isinstance(e, TerminalError):
            return _HandlerOutcome(Failure(e.status_code, e.message, dict(e.metadata or {})))
        if isinstance(e, RetryableError):
            return _HandlerOutcome(
                failed=Failed(
                    e.status_code,
                    e.message,
                    retry_after=e.retry_after,
                    stacktrace=_stacktrace(e),
                )
            )
        return _HandlerOutcome(
            failed=Failed(500, _describe_exception(e), stacktrace=_stacktrace(e))
        )

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
        if task is not None and task is not self._main:
            self._known_tasks.add(task)
        self._poke()

    def issue(self, build: Callable[[int], Command]) -> tuple[int, Command, bool]:
        """Issue a command (checked against the journal on replay).

        Args:
            build: Builds the command from its index (ids derive from it).

        Raises:
            NonDeterminismError: The handler diverged from its journal.
            SuspendedException: The attempt is over.
        """
        return self.issue_command(build(self._machine.next_command))

    def issue_command(self, cmd: Command) -> tuple[int, Command, bool]:
        """:meth:`issue` for a command that does not depend on its index."""
        if self._closed or self._fatal or self._final or _in_run_action.get():
            self.check_usable()
        if self._inline is None:  # inline, the handler's is the only coroutine
            self._touch()
        try:
            result = self._machine.issue_command(cmd)
        except JournalMismatch as e:
            self._set_fatal(Failed(NON_DETERMINISM_CODE, e.message, command_index=e.command_index))
            raise NonDeterminismError(e.message) from None
        if self._parked:
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

    def next_awakeable_signal(self) -> int:
        """The signal index of the next awakeable of a remote attempt (17, 18, ...).

        Deterministic: the handler creates its awakeables in the same order on replay.
        Its notification is ``Completion(-index, result)``; await it as that index.

        Raises:
            SuspendedException: The attempt is over.
        """
        self.check_usable()
        if self._inline is None:
            self._touch()
        self._signals += 1
        return FIRST_SIGNAL + self._signals - 1

    def await_named_signal(self, name: str) -> int:
        """A remote attempt's ``ctx.signal(name)``: the pseudo index to await (no command).

        Raises:
            SuspendedException: The attempt is over.
        """
        self.check_usable()
        if self._inline is None:
            self._touch()
        if self._named_waits is None:
            self._named_waits = {}
        index = REMOTE_SIGNAL_BASE - len(self._named_waits) - 1
        self._named_waits[index] = name
        self._machine.await_signal(index, name)
        return index

    @property
    def named_signal_waits(self) -> Mapping[int, str]:
        """Remote attempts: the name of the signal each pseudo index waits for."""
        return self._named_waits or {}

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
        if not self.poll(indexes, wait_all):
            await self.wait_parked(indexes, wait_all)

    def poll(self, indexes: Sequence[int], wait_all: bool) -> bool:
        """The synchronous part of :meth:`wait`: True when no suspension is needed.

        Starts the ``ctx.run`` actions among ``indexes`` and moves the cursor as
        :meth:`wait` does; when it returns False, :meth:`wait_parked` must follow.

        Raises:
            TerminalError: ``cancelled`` (409) when the cancellation signal comes first.
            SuspendedException: The attempt is being torn down.
        """
        if self._closed or self._fatal or self._final or _in_run_action.get():
            self.check_usable()
        if self._inline is None:
            self._touch()
        if self._run_specs:
            self._start_runs(indexes)
        return self._reveal_for(indexes, wait_all)

    async def wait_parked(self, indexes: Sequence[int], wait_all: bool) -> None:
        """Park until :meth:`poll`'s await is satisfied (after ``poll`` returned False)."""
        while True:
            await self._park(indexes, wait_all)
            if self._reveal_for(indexes, wait_all):
                return

    def _start_runs(self, indexes: Sequence[int]) -> None:
        inline = self._inline
        ran_inline = False
        for i in indexes:
            spec = self._run_specs.pop(i, None)
            if spec is not None:
                if self._hold_runs:
                    self._held_runs[i] = spec
                elif inline is not None:
                    self._run_action_inline(inline, i, spec)
                    ran_inline = True
                else:
                    self._start_run(i, spec)
        if ran_inline:
            assert inline is not None
            self.check_usable()  # raises when an action failed the attempt
            if inline.defer_durability and self._pending_results and not self._inflight:
                # What advance() does once the actions are done (flush at the settle
                # point, then the acknowledgement), with the acknowledgement deferred
                # to the caller. While an action is still in flight the results wait
                # for it, as they would there.
                self._flush_run_results()
                self._machine.ack()

    def _reveal_for(self, indexes: Sequence[int], wait_all: bool) -> bool:
        """Move the cursor for an await; True when satisfied, False when it must park."""
        machine = self._machine
        while True:
            if self._satisfied(indexes, wait_all):
                return True
            if machine.cancel_pending and machine.consume_cancel():
                self._implicit_cancel()
                raise TerminalError("cancelled", status_code=409)
            step = machine.step()
            if step is Step.SKIPPED:
                continue
            if step is Step.NOTIFICATION:
                if self._satisfied(indexes, wait_all):
                    return True
                if machine.cancel_pending:
                    continue
                if not self._wake_satisfied():
                    continue
            return False

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

    async def _call_action(self, action: BoundAction) -> Any:
        if action.is_async:
            return await action.fn()
        if self._inline is not None:
            # On the caller's stack: an executor hop costs more than most actions.
            result = action.fn()
        else:
            loop = asyncio.get_running_loop()
            ctx = contextvars.copy_context()
            result = await loop.run_in_executor(None, functools.partial(ctx.run, action.fn))
        if inspect.isawaitable(result):
            result = await result
        return result

    async def _attempt_run(self, spec: RunSpec) -> Any:
        opts = spec.options
        if not opts.has_retry_policy():
            return await self._call_action(spec.action)
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
                    return await self._call_action(spec.action)
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


def bind_run_action(
    action: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]
) -> BoundAction:
    """Bind a sync or async ``ctx.run`` action to its arguments."""
    fn: Callable[[], Any] = functools.partial(action, *args, **kwargs) if args or kwargs else action
    return BoundAction(fn, inspect.iscoroutinefunction(action) or inspect.iscoroutinefunction(fn))
