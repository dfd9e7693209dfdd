"""Durable futures and the combinators over them (private; re-exported by ``sdk``).

Every future stands for one journaled command; its result is that command's
completion. Combinators decide "which completed first" by the completion's
position in the journal, so they answer the same on replay.
"""

from __future__ import annotations

import typing
from collections.abc import AsyncIterator, Callable, Generator, Iterable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sdk._journal import (
    CancelInvocationCommand,
    CompletePromiseCommand,
    Failure,
    GetPromiseCommand,
    PeekPromiseCommand,
    Result,
    StateKeys,
    Value,
)
from sdk.context import (
    DurablePromise,
    RestateDurableCallFuture,
    RestateDurableFuture,
    RestateDurableSleepFuture,
    SendHandle,
)
from sdk.exceptions import TerminalError
from sdk.serde import Serde

if TYPE_CHECKING:
    from sdk._engine import InvocationDriver

T = TypeVar("T")

Decoder = Callable[[Result], Any]


def decode_with(serde: Serde[Any]) -> Decoder:
    """A decoder turning a completion's result into a value (or a raised TerminalError)."""

    def decode(result: Result) -> Any:
        if isinstance(result, Value):
            return serde.deserialize(result.data)
        if isinstance(result, Failure):
            raise TerminalError(result.message, result.code, dict(result.metadata) or None)
        if isinstance(result, StateKeys):
            return list(result.keys)
        return None

    return decode


def decode_void(result: Result) -> None:
    """Decoder for completions without a value (sleep, promise completion)."""
    if isinstance(result, Failure):
        raise TerminalError(result.message, result.code, dict(result.metadata) or None)


class DurableFuture(RestateDurableFuture[T]):
    """The SDK's future: one command index of one invocation's journal."""

    def __init__(self, driver: InvocationDriver, index: int, decode: Decoder) -> None:
        self._driver = driver
        self._index = index
        self._decode = decode
        self._done = False
        self._value: Any = None
        self._error: TerminalError | None = None

    @property
    def command_index(self) -> int:
        """The index of the command this future completes."""
        return self._index

    def is_completed(self) -> bool:
        """True when the completion is visible to the handler (awaiting won't block)."""
        return self._driver.visible(self._index) is not None

    def __await__(self) -> Generator[Any, Any, T]:
        if not self._done:
            driver, indexes = self._driver, (self._index,)
            # Most awaits are answered at once (state reads, inline ctx.run): no coroutine.
            if not driver.poll(indexes, True):
                yield from driver.wait_parked(indexes, True).__await__()
            visible = driver.visible(self._index)
            assert visible is not None
            try:
                self._value = self._decode(visible.result)
            except TerminalError as e:
                self._error = e
            self._done = True
        if self._error is not None:
            raise self._error
        return typing.cast(T, self._value)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} command={self._index}>"


class SleepFuture(DurableFuture[None], RestateDurableSleepFuture):
    """A durable timer."""

    def __await__(self) -> Generator[Any, Any, None]:
        return super().__await__()


class CallFuture(DurableFuture[T], RestateDurableCallFuture[T]):
    """A request-response call; its invocation id is known without the runtime."""

    def __init__(
        self, driver: InvocationDriver, index: int, decode: Decoder, invocation_id: str
    ) -> None:
        super().__init__(driver, index, decode)
        self._invocation_id = invocation_id

    async def invocation_id(self) -> str:
        """The callee's invocation id."""
        return self._invocation_id

    async def cancel_invocation(self) -> None:
        """Ask the runtime to cancel the callee."""
        cancel(self._driver, self._invocation_id)


class SendHandleImpl(SendHandle):
    """Handle of a one-way send."""

    def __init__(self, driver: InvocationDriver, invocation_id: str) -> None:
        self._driver = driver
        self._invocation_id = invocation_id

    async def invocation_id(self) -> str:
        """The callee's invocation id."""
        return self._invocation_id

    async def cancel_invocation(self) -> None:
        """Ask the runtime to cancel the callee."""
        cancel(self._driver, self._invocation_id)


def cancel(driver: InvocationDriver, invocation_id: str) -> None:
    """Issue a CancelInvocation command."""
    driver.issue(lambda _i: CancelInvocationCommand(invocation_id=invocation_id))


class DurablePromiseImpl(DurablePromise[T]):
    """A workflow promise; every method issues one journaled command."""

    def __init__(self, driver: InvocationDriver, name: str, serde: Serde[T]) -> None:
        super().__init__(name, serde)
        self._driver = driver

    def value(self) -> RestateDurableFuture[T]:
        """A future completed when the promise is resolved or rejected."""
        index, _, _ = self._driver.issue(lambda _i: GetPromiseCommand(name=self.name))
        return DurableFuture(self._driver, index, decode_with(self.serde))

    def resolve(self, value: T) -> RestateDurableFuture[None]:
        """Resolve the promise; awaiting raises 409 if it was already completed."""
        data = self.serde.serialize(value)
        index, _, _ = self._driver.issue(
            lambda _i: CompletePromiseCommand(name=self.name, result=Value(data))
        )
        return DurableFuture(self._driver, index, decode_void)

    def reject(self, message: str, code: int = 500) -> RestateDurableFuture[None]:
        """Reject the promise; awaiting raises 409 if it was already completed."""
        index, _, _ = self._driver.issue(
            lambda _i: CompletePromiseCommand(name=self.name, result=Failure(code, message))
        )
        return DurableFuture(self._driver, index, decode_void)

    def peek(self) -> RestateDurableFuture[T | None]:
        """The value if resolved, None if not completed; raises if rejected."""
        index, _, _ = self._driver.issue(lambda _i: PeekPromiseCommand(name=self.name))
        return DurableFuture(self._driver, index, decode_with(self.serde))

    def __await__(self) -> Generator[Any, Any, T]:
        return self.value().__await__()


class _Group(Generic[T]):
    def __init__(self, futures: Iterable[RestateDurableFuture[Any]]) -> None:
        self.futures: list[DurableFuture[Any]] = []
        driver: InvocationDriver | None = None
        for f in futures:
            if not isinstance(f, DurableFuture):
                raise TypeError(
                    f"combinators accept only futures created by the SDK context "
                    f"(ctx.run, ctx.sleep, calls, awakeables, promises, state), got {f!r}"
                )
            if driver is None:
                driver = f._driver
            elif f._driver is not driver:
                raise TypeError("all futures must come from the same invocation context")
            self.futures.append(f)
        self.driver = driver

    def position(self, f: DurableFuture[Any]) -> int:
        assert self.driver is not None
        visible = self.driver.visible(f.command_index)
        return visible.position if visible is not None else 1 << 62


async def gather(*futures: RestateDurableFuture[Any]) -> list[RestateDurableFuture[Any]]:
    """Wait until every future has completed (successfully or not).

    Args:
        *futures: Futures of the same context.

    Returns:
        The futures, in argument order; await each one to get its value (or
        its ``TerminalError``).

    Example:
        >>> a, b = await gather(ctx.run_typed("a", fa), ctx.run_typed("b", fb))  # doctest: +SKIP
        >>> total = await a + await b  # doctest: +SKIP
    """
    group: _Group[Any] = _Group(futures)
    if group.driver is None:
        return []
    await group.driver.wait([f.command_index for f in group.futures], True)
    return list(futures)


async def wait_completed(
    *futures: RestateDurableFuture[Any],
) -> tuple[list[RestateDurableFuture[Any]], list[RestateDurableFuture[Any]]]:
    """Wait until at least one future has completed.

    Args:
        *futures: Futures of the same context.

    Returns:
        ``(done, pending)``: ``done`` in completion order (journal order),
        ``pending`` in argument order.
    """
    group: _Group[Any] = _Group(futures)
    if group.driver is None:
        return [], []
    if not any(f.is_completed() for f in group.futures):
        await group.driver.wait([f.command_index for f in group.futures], False)
    done = sorted((f for f in group.futures if f.is_completed()), key=group.position)
    pending = [f for f in group.futures if not f.is_completed()]
    return list(done), list(pending)


async def as_completed(*futures: RestateDurableFuture[Any]) -> AsyncIterator[Any]:
    """Yield the futures as they complete, in completion (journal) order.

    Example:
        >>> async for f in as_completed(f1, f2):  # doctest: +SKIP
        ...     print(await f)
    """
    remaining: list[RestateDurableFuture[Any]] = list(futures)
    while remaining:
        done, remaining = await wait_completed(*remaining)
        for f in done:
            yield f


async def select(**futures: RestateDurableFuture[Any]) -> list[Any]:
    """Wait for the first future to complete and return ``[name, value]``.

    Raises the first future's ``TerminalError`` if it failed.

    Example:
        >>> timeout = ctx.sleep(timedelta(seconds=10))  # doctest: +SKIP
        >>> match await select(ok=ctx.promise("p").value(), timeout=timeout):  # doctest: +SKIP
        ...     case ["ok", value]: ...
        ...     case ["timeout", _]: ...

    Raises:
        ValueError: No futures given.
    """
    if not futures:
        raise ValueError("select() needs at least one future")
    done, _ = await wait_completed(*futures.values())
    first = done[0]
    name = next(n for n, f in futures.items() if f is first)
    return [name, await first]
