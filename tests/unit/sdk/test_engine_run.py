"""``ctx.run``: output commit, replay without re-execution, retries, failures."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

import sdk as restate
from sdk import Context, RunOptions, TerminalError
from sdk.engine import (
    Blocked,
    Completion,
    Done,
    Failed,
    Failure,
    HandlerDefinition,
    InvocationDescriptor,
    InvocationDriver,
    JournalEntry,
    RunCommand,
    Value,
)
from sdk.exceptions import RetryableError
from tests.unit.sdk.fake_runtime import INVOCATION_ID, FakeRuntime, output_json

svc = restate.Service("RunTests")
observed: list[object] = []
calls: dict[str, int] = {}


def _count(name: str) -> int:
    calls[name] = calls.get(name, 0) + 1
    return calls[name]


@svc.handler()
async def one_run(ctx: Context) -> int:
    value = await ctx.run_typed("a", lambda: _count("a") * 10)
    observed.append(value)
    return value


async def _async_action(x: int) -> int:
    await asyncio.sleep(0)
    _count("async")
    return x * 2


@svc.handler()
async def async_run(ctx: Context, x: int) -> int:
    return await ctx.run_typed("double", _async_action, RunOptions(), x)


def _always_fails() -> int:
    _count("fails")
    raise ValueError("boom")


@svc.handler()
async def exhausted(ctx: Context) -> str:
    try:
        await ctx.run_typed(
            "flaky",
            _always_fails,
            RunOptions(max_attempts=3, initial_retry_interval=timedelta(milliseconds=1)),
        )
    except TerminalError as e:
        return f"{e.status_code}: {e.message}"
    return "unreachable"


def _terminal() -> int:
    _count("terminal")
    raise TerminalError("card declined", status_code=402, metadata={"k": "v"})


@svc.handler()
async def terminal_in_run(ctx: Context) -> int:
    return await ctx.run_typed(
        "pay", _terminal, RunOptions(max_attempts=5, initial_retry_interval=timedelta(0))
    )


@svc.handler()
async def unretried(ctx: Context) -> int:
    return await ctx.run_typed("fails", _always_fails)


def _retry_later() -> int:
    _count("later")
    raise RetryableError("rate limited", status_code=503, retry_after=timedelta(seconds=7))


@svc.handler()
async def retry_after_in_run(ctx: Context) -> int:
    return await ctx.run_typed("later", _retry_later)


@svc.handler()
async def retry_after_in_handler(ctx: Context) -> int:
    raise RetryableError("come back later", retry_after=timedelta(seconds=3))


_flaky_state = {"n": 0}


def _flaky_then_ok() -> str:
    _flaky_state["n"] += 1
    if _flaky_state["n"] < 3:
        raise RetryableError("not yet", retry_after=timedelta(milliseconds=1))
    return "ok"


@svc.handler()
async def flaky_recovers(ctx: Context) -> str:
    return await ctx.run_typed(
        "flaky",
        _flaky_then_ok,
        RunOptions(max_attempts=5, initial_retry_interval=timedelta(hours=1)),
    )


@svc.handler()
async def deprecated_run(ctx: Context) -> int:
    return await ctx.run("legacy", lambda a, b: a + b, args=(2, 3))


@svc.handler()
async def uses_ctx_in_run(ctx: Context) -> str:
    def bad() -> str:
        ctx.random()
        return "no"

    return await ctx.run_typed("bad", bad)


@svc.handler()
async def unawaited_run(ctx: Context) -> str:
    ctx.run_typed("never", lambda: _count("never"))
    return "done"


@svc.handler()
async def by_duration(ctx: Context) -> str:
    try:
        await ctx.run_typed(
            "slow",
            _always_fails,
            RunOptions(
                max_duration=timedelta(milliseconds=30),
                initial_retry_interval=timedelta(milliseconds=5),
                retry_interval_factor=1.0,
            ),
        )
    except TerminalError as e:
        return e.message
    return "unreachable"


@svc.handler()
async def now(ctx: Context) -> float:
    return await ctx.time()


def _desc() -> InvocationDescriptor:
    return InvocationDescriptor(
        invocation_id=INVOCATION_ID, service="RunTests", handler="one_run", random_seed=3
    )


async def test_run_result_not_observed_before_ack() -> None:
    """Invariant 5 / output commit: the await returns only after the durability ack."""
    calls.clear()
    observed.clear()
    driver = InvocationDriver(svc.handlers["one_run"], _desc())
    p1 = await driver.advance()
    assert isinstance(p1.status, Blocked)
    assert p1.status.needs_ack
    assert p1.status.awaiting == frozenset({1})
    assert [type(e).__name__ for e in p1.new_entries] == [
        "InputCommand",
        "RunCommand",
        "Completion",
    ]
    assert p1.new_entries[2] == Completion(1, Value(b"10"))
    assert observed == []
    # Without the ack, notifications or not, the handler still does not see it.
    p2 = await driver.advance()
    assert isinstance(p2.status, Blocked) and p2.status.needs_ack
    assert p2.new_entries == () and observed == []
    p3 = await driver.advance(durable=True)
    assert isinstance(p3.status, Done)
    assert observed == [10]
    assert calls == {"a": 1}


async def test_run_not_reexecuted_on_replay() -> None:
    calls.clear()
    journal = [
        *(await _record(svc.handlers["one_run"])),
    ]
    calls.clear()
    driver = InvocationDriver(svc.handlers["one_run"], _desc(), journal)
    progress = await driver.advance()
    assert isinstance(progress.status, Done)
    assert progress.status.value == b"10"
    assert calls == {}


async def _record(handler: HandlerDefinition) -> list[JournalEntry]:
    rt = FakeRuntime(handler)
    await rt.run()
    return list(rt.journal)


async def test_run_reexecuted_when_result_not_journaled() -> None:
    """At least once: a Run command without its result runs again on replay."""
    calls.clear()
    journal = [
        *(await _record(svc.handlers["one_run"]))[:2],  # Input, Run -- result lost
    ]
    driver = InvocationDriver(svc.handlers["one_run"], _desc(), journal)
    progress = await driver.advance()
    assert isinstance(progress.status, Blocked) and progress.status.needs_ack
    assert progress.new_entries == (Completion(1, Value(b"20")),)
    assert calls == {"a": 2}


async def test_async_action() -> None:
    calls.clear()
    rt = FakeRuntime(svc.handlers["async_run"], input=b"21")
    assert output_json(await rt.run()) == 42
    assert calls == {"async": 1}


async def test_retry_exhaustion_journals_terminal_error() -> None:
    calls.clear()
    rt = FakeRuntime(svc.handlers["exhausted"])
    status = await rt.run()
    assert calls == {"fails": 3}
    completion = next(e for e in rt.journal if isinstance(e, Completion))
    assert isinstance(completion.result, Failure)
    assert completion.result.code == 500
    assert "gave up after 3 attempts" in completion.result.message
    assert "ValueError: boom" in completion.result.message
    assert output_json(status).startswith("500: ctx.run 'flaky' gave up after 3 attempts")
    # Replay: the failure is journaled, the action is not called again.
    calls.clear()
    rt2 = FakeRuntime(svc.handlers["exhausted"], journal=rt.journal[:-1])
    assert output_json(await rt2.run()) == output_json(status)
    assert calls == {}


async def test_retry_exhaustion_by_duration() -> None:
    calls.clear()
    out = output_json(await FakeRuntime(svc.handlers["by_duration"]).run())
    assert out.startswith("ctx.run 'slow' gave up after")
    assert calls["fails"] >= 2


async def test_terminal_error_in_action_is_journaled_immediately() -> None:
    calls.clear()
    rt = FakeRuntime(svc.handlers["terminal_in_run"])
    status = await rt.run()
    assert calls == {"terminal": 1}
    assert isinstance(status, Done)
    assert status.failure == Failure(402, "card declined", {"k": "v"})
    assert Completion(1, Failure(402, "card declined", {"k": "v"})) in rt.journal


async def test_action_exception_without_retry_options_fails_attempt() -> None:
    calls.clear()
    rt = FakeRuntime(svc.handlers["unretried"])
    status = await rt.run()
    assert isinstance(status, Failed)
    assert status.code == 500
    assert status.message == "ctx.run 'fails' failed: ValueError: boom"
    assert status.command_index == 1
    assert "ValueError: boom" in (status.stacktrace or "")
    # Nothing but the command was journaled; the next attempt runs the action again.
    assert [type(e).__name__ for e in rt.journal] == ["InputCommand", "RunCommand"]
    await rt.run(max_attempts=2)
    assert calls == {"fails": 3}


async def test_retryable_error_retry_after_surfaces() -> None:
    status = await FakeRuntime(svc.handlers["retry_after_in_run"]).run()
    assert isinstance(status, Failed)
    assert (status.code, status.retry_after) == (503, timedelta(seconds=7))
    status = await FakeRuntime(svc.handlers["retry_after_in_handler"]).run()
    assert isinstance(status, Failed)
    assert status.retry_after == timedelta(seconds=3)
    assert status.message == "come back later"


async def test_retry_after_overrides_run_backoff() -> None:
    """The policy's 1 h initial interval is overridden by retry_after=1 ms."""
    _flaky_state["n"] = 0
    status = await asyncio.wait_for(FakeRuntime(svc.handlers["flaky_recovers"]).run(), 5)
    assert output_json(status) == "ok"
    assert _flaky_state["n"] == 3


async def test_deprecated_run_with_args() -> None:
    assert output_json(await FakeRuntime(svc.handlers["deprecated_run"]).run()) == 5


async def test_context_inside_run_is_rejected() -> None:
    status = await FakeRuntime(svc.handlers["uses_ctx_in_run"]).run()
    assert isinstance(status, Failed)
    assert "cannot be used inside a ctx.run action" in status.message


async def test_unawaited_run_never_executes() -> None:
    calls.clear()
    rt = FakeRuntime(svc.handlers["unawaited_run"])
    assert output_json(await rt.run()) == "done"
    assert calls == {}
    assert RunCommand(name="never") in rt.journal


async def test_time_is_a_journaled_run() -> None:
    rt = FakeRuntime(svc.handlers["now"], clock=lambda: 1234.5)
    assert output_json(await rt.run()) == 1234.5
    assert RunCommand(name="timestamp") in rt.journal
    rt2 = FakeRuntime(svc.handlers["now"], clock=lambda: 9999.0, journal=rt.journal[:-1])
    assert output_json(await rt2.run()) == 1234.5


_release = {"event": None}


async def _slow_action() -> str:
    import asyncio as aio

    ev = aio.Event()
    _release["event"] = ev  # type: ignore[assignment]
    await ev.wait()
    return "late"


@svc.handler()
async def slow(ctx: Context) -> str:
    return await ctx.run_typed("slow", _slow_action)


async def test_abort_a_long_run_then_close() -> None:
    """The runtime's abort timeout: cancel advance() while an action runs, then close()."""
    driver = InvocationDriver(
        svc.handlers["slow"],
        InvocationDescriptor(invocation_id=INVOCATION_ID, service="RunTests", handler="slow"),
    )
    task = asyncio.ensure_future(driver.advance())
    await asyncio.sleep(0.01)
    assert not task.done()
    with pytest.raises(RuntimeError, match="already running"):
        await driver.advance()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await driver.close()
    assert driver.finished
    assert [type(e).__name__ for e in driver.journal] == ["InputCommand", "RunCommand"]


async def test_held_runs_start_only_when_released() -> None:
    """A speculative attempt (ADR 0013) runs the handler up to its first awaited ctx.run
    and stops there: the action has not run until the runtime releases it."""
    calls.clear()
    observed.clear()
    driver = InvocationDriver(svc.handlers["one_run"], _desc(), hold_runs=True)
    p1 = await driver.advance()
    assert isinstance(p1.status, Blocked) and not p1.status.needs_ack
    assert p1.status.awaiting == frozenset({1})
    assert [type(e).__name__ for e in p1.new_entries] == ["InputCommand", "RunCommand"]
    p2 = await driver.advance()  # more turns change nothing
    assert p2.new_entries == () and calls == {} and observed == []
    driver.release_runs()
    p3 = await driver.advance(durable=True)
    assert isinstance(p3.status, Blocked) and p3.status.needs_ack
    assert p3.new_entries == (Completion(1, Value(b"10")),)
    assert calls == {"a": 1}
    p4 = await driver.advance(durable=True)
    assert isinstance(p4.status, Done) and observed == [10]


async def test_held_runs_are_dropped_when_the_driver_closes() -> None:
    calls.clear()
    driver = InvocationDriver(svc.handlers["one_run"], _desc(), hold_runs=True)
    await driver.advance()
    await driver.close()
    await asyncio.sleep(0.01)
    assert calls == {}
