"""Stepping a coroutine on the caller's stack, and handing it to an asyncio Task (private).

The invocation driver's inline fast path (``InvocationDriver.run_inline``, ADR 0019)
sends into a handler's coroutine itself instead of wrapping it in a Task. This module
owns the asyncio side of that: what ``asyncio.current_task()`` answers while the
coroutine runs inline (a :class:`TaskStandIn`, never the caller's task), one inline
step (:func:`step`), and the trampoline that lets an asyncio Task continue a coroutine
that was already started and is suspended on a future (:func:`continue_in_task`).

It knows nothing about journals or drivers: ``sdk._engine`` decides what runs inline
and when to hand over.
"""

from __future__ import annotations

import asyncio
from asyncio import tasks as _tasks
from collections.abc import Callable, Coroutine, Generator
from contextvars import Context
from typing import Any, cast

# ``_enter_task``/``_leave_task`` are how asyncio itself (and third-party task
# implementations) mark the task a loop is running; there is no public spelling.
_enter_task = _tasks._enter_task
_leave_task = _tasks._leave_task
_running_tasks = getattr(_tasks, "_current_tasks", None)
_current_task: Callable[[asyncio.AbstractEventLoop], asyncio.Task[Any] | None] = (
    _running_tasks.get if isinstance(_running_tasks, dict) else _tasks.current_task
)


class TaskStandIn:
    """``asyncio.current_task()`` while a coroutine runs inline.

    Code that captures the current task (``asyncio.timeout``, ``asyncio.TaskGroup``,
    a handler storing it) must not capture the caller's task: a timeout entered inline
    that fires after the hand-over would cancel the caller. The stand-in answers the
    calls asyncio makes on a task while nothing can happen to it (no loop turn runs
    during an inline step), remembers cancellation requests, and once the coroutine is
    handed over (:meth:`bind`) forwards everything to the Task that continues it.
    """

    __slots__ = ("_task", "_cancels", "_cancel_msg", "_finished")

    def __init__(self) -> None:
        self._task: asyncio.Task[Any] | None = None
        self._cancels = 0
        self._cancel_msg: Any = None
        self._finished = False

    @property
    def cancel_requested(self) -> bool:
        """True when ``cancel()`` was called before a hand-over (and not uncancelled)."""
        return self._cancels > 0

    def bind(self, task: asyncio.Task[Any]) -> None:
        """The coroutine continues in ``task``: forward to it, with pending cancellations."""
        self._task = task
        for _ in range(self._cancels):
            task.cancel(self._cancel_msg)

    def finish(self) -> None:
        """The coroutine ended inline: ``done()`` is True from now on."""
        self._finished = True

    def cancel(self, msg: Any = None) -> bool:
        """Request cancellation (delivered at the coroutine's next real suspension)."""
        if self._task is not None:
            return self._task.cancel(msg)
        if self._finished:
            return False
        self._cancels += 1
        self._cancel_msg = msg
        return True

    def cancelling(self) -> int:
        """Pending cancellation requests, as ``asyncio.Task.cancelling``."""
        return self._task.cancelling() if self._task is not None else self._cancels

    def uncancel(self) -> int:
        """Withdraw one cancellation request, as ``asyncio.Task.uncancel``."""
        if self._task is not None:
            return self._task.uncancel()
        if self._cancels > 0:
            self._cancels -= 1
        return self._cancels

    def done(self) -> bool:
        """Whether the coroutine has ended."""
        return self._task.done() if self._task is not None else self._finished

    def cancelled(self) -> bool:
        """Whether the coroutine ended by cancellation (never, while inline)."""
        return self._task.cancelled() if self._task is not None else False

    def get_name(self) -> str:
        """The Task's name once handed over; a fixed name before."""
        return self._task.get_name() if self._task is not None else "rt-inline"

    def __getattr__(self, name: str) -> Any:
        task = self._task
        if task is None:
            raise AttributeError(
                f"{name!r} is not available while the coroutine runs inline (no asyncio Task "
                "yet; it gets one if it suspends)"
            )
        return getattr(task, name)

    def __repr__(self) -> str:
        return f"<TaskStandIn task={self._task!r}>"


def step(
    loop: asyncio.AbstractEventLoop,
    context: Context,
    coro: Coroutine[Any, Any, Any],
    stand_in: TaskStandIn,
) -> Any:
    """Send ``None`` into ``coro`` inside ``context``, with ``stand_in`` as current task.

    Returns:
        What the coroutine yielded (it is suspended there: a future, or None for a
        bare yield such as ``asyncio.sleep(0)``).

    Raises:
        StopIteration: The coroutine returned (its value is ``.value``).
        BaseException: Whatever the coroutine raised.
    """
    current = cast("asyncio.Task[Any]", stand_in)  # asyncio never checks the type
    caller = _current_task(loop)
    if caller is not None:
        _leave_task(loop, caller)
    _enter_task(loop, current)
    try:
        return context.run(coro.send, None)
    finally:
        _leave_task(loop, current)
        if caller is not None:
            _enter_task(loop, caller)


def _trampoline(coro: Coroutine[Any, Any, Any], first: Any) -> Generator[Any, Any, Any]:
    """Re-yield ``first`` to the Task, then relay sends and throws to ``coro``."""
    pending = first
    while True:
        try:
            value = yield pending
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:  # noqa: BLE001 - relayed into the coroutine as is
            try:
                pending = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                pending = coro.send(value)
            except StopIteration as stop:
                return stop.value


class _Suspended:
    __slots__ = ("_coro", "_first")

    def __init__(self, coro: Coroutine[Any, Any, Any], first: Any) -> None:
        self._coro = coro
        self._first = first

    def __await__(self) -> Generator[Any, Any, Any]:
        return _trampoline(self._coro, self._first)


async def continue_in_task(coro: Coroutine[Any, Any, Any], yielded: Any) -> Any:
    """The rest of a coroutine that :func:`step` left suspended on ``yielded``.

    Wrap it in a Task (``loop.create_task(continue_in_task(coro, yielded), context=...)``):
    the Task waits on ``yielded`` exactly as if it had run the coroutine from the start
    (a future's ``_asyncio_future_blocking`` flag is still set, a bare yield reschedules),
    then relays results, exceptions and cancellation to the coroutine.
    """
    return await _Suspended(coro, yielded)
