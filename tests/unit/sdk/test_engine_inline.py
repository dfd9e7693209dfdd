"""``InvocationDriver.run_inline``: the same journal as ``advance()``, without a Task.

Every scenario runs three ways through the fake runtime -- ``advance`` only, ``run_inline``
then ``advance`` (``inline``), ``run_inline(defer_durability=True)`` then ``advance``
(``defer``) -- live and in always-replay mode, and the journals must be equal byte for
byte, with the same outcome, final state and number of action executions. The golden
journals are replayed both ways too (``test_golden_inline_matches_advance``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import pytest

import sdk as restate
from sdk import (
    Context,
    ObjectContext,
    RunOptions,
    TerminalError,
)
from sdk._engine import _current_driver, _in_run_action, current_driver
from sdk.engine import (
    Blocked,
    Completion,
    Done,
    DriverClosedError,
    Failed,
    Failure,
    HandlerDefinition,
    InputCommand,
    InvocationDescriptor,
    InvocationDriver,
    JournalEntry,
    Progress,
    RunCommand,
    Status,
    Value,
    Void,
    decode_entry,
    encode_entry,
)
from sdk.exceptions import RetryableError
from tests.unit.sdk import handlers as h
from tests.unit.sdk.fake_runtime import INVOCATION_ID, FakeRuntime, Script, json_value
from tests.unit.sdk.golden_io import GOLDEN_DIR, load_golden

Mode = Literal["advance", "inline", "defer"]
MODES: tuple[Mode, ...] = ("advance", "inline", "defer")

RUNS: collections.Counter[str] = collections.Counter()
"""How often each ``ctx.run`` action of this module really executed."""


def counted(name: str, value: Any = None) -> Any:
    RUNS[name] += 1
    return value


# --- handlers ------------------------------------------------------------------------------

svc = restate.Service("Inline")
obj = restate.VirtualObject("InlineObj")
lazy_obj = restate.VirtualObject("InlineLazy", enable_lazy_state=True)


@obj.handler()
async def state_ops(ctx: ObjectContext, n: int) -> list[Any]:
    a = await ctx.get("a", type_hint=int)
    ctx.set("a", (a or 0) + n)
    ctx.set("b", "x")
    keys = await ctx.state_keys()
    ctx.clear("b")
    after = await ctx.get("b")
    ctx.clear_all()
    ctx.set("c", n)
    return [a, keys, after, await ctx.get("c", type_hint=int)]


@obj.handler()
async def sends(ctx: ObjectContext, n: int) -> str:
    ctx.object_send(h.reserve, ctx.key(), n)
    ctx.object_send(h.reserve, "other", n, send_delay=timedelta(seconds=5))
    handle = ctx.service_send(h.charge, n, idempotency_key="once")
    return await handle.invocation_id()


@svc.handler()
async def determinism(ctx: Context) -> list[Any]:
    r = ctx.random().randint(0, 1_000_000)
    u = str(ctx.uuid())
    t = await ctx.time()
    return [r, u, t]


@svc.handler()
async def two_runs(ctx: Context, n: int) -> int:
    a = await ctx.run_typed("a", counted, RunOptions(), "two_runs.a", n + 1)
    b = await ctx.run_typed("b", counted, RunOptions(), "two_runs.b", a * 2)
    return b


async def _async_fast(n: int) -> int:
    counted("async_fast")
    return n + 100


async def _async_io(n: int) -> int:
    # Slower than a sync action's trip through the thread pool even on a loaded host:
    # the journal order of concurrent runs (gathered, first_of) depends on it.
    await asyncio.sleep(0.1)
    counted("async_io")
    return n + 200


@svc.handler()
async def async_runs(ctx: Context, n: int) -> list[int]:
    fast = await ctx.run_typed("fast", _async_fast, RunOptions(), n)
    slow = await ctx.run_typed("slow", _async_io, RunOptions(), n)
    again = await ctx.run_typed("again", counted, RunOptions(), "async_runs.again", 3)
    return [fast, slow, again]


@svc.handler()
async def gathered(ctx: Context, n: int) -> list[int]:
    a = ctx.run_typed("a", _async_fast, RunOptions(), n)
    b = ctx.run_typed("b", _async_io, RunOptions(), n)
    c = ctx.run_typed("c", counted, RunOptions(), "gathered.c", 7)
    await restate.gather(a, b, c)
    return [await a, await b, await c]


@svc.handler()
async def first_of(ctx: Context, n: int) -> list[Any]:
    slow = ctx.run_typed("slow", _async_io, RunOptions(), n)
    fast = ctx.run_typed("fast", _async_fast, RunOptions(), n)
    done, pending = await restate.wait_completed(slow, fast)
    # A command between the first completion and the second: where it lands in the
    # journal shows when each result became visible.
    ctx.service_send(h.charge, len(done))
    return [len(done), len(pending), await fast, await slow]


_flaky_calls: collections.Counter[str] = collections.Counter()


def _flaky(name: str) -> str:
    counted(name)
    _flaky_calls[name] += 1
    if _flaky_calls[name] % 2 == 1:
        raise ValueError(f"{name} failed once")
    return "ok"


@svc.handler()
async def retried(ctx: Context) -> str:
    opts: RunOptions[str] = RunOptions(
        max_attempts=3, initial_retry_interval=timedelta(milliseconds=1)
    )
    return await ctx.run_typed("flaky", _flaky, opts, "retried.flaky")


@svc.handler()
async def run_exhausted(ctx: Context) -> str:
    opts: RunOptions[str] = RunOptions(
        max_attempts=2, initial_retry_interval=timedelta(milliseconds=1)
    )

    def always() -> str:
        counted("run_exhausted.always")
        raise RetryableError("nope", status_code=503)

    try:
        return await ctx.run_typed("always", always, opts)
    except TerminalError as e:
        return f"{e.status_code}: {e.message}"


@svc.handler()
async def run_terminal(ctx: Context) -> str:
    def refuse() -> str:
        counted("run_terminal.refuse")
        raise TerminalError("refused", status_code=422)

    try:
        await ctx.run_typed("refuse", refuse)
    except TerminalError as e:
        return f"caught {e.status_code}"
    return "unreachable"


@svc.handler()
async def run_fails(ctx: Context) -> str:
    def broken() -> str:
        counted("run_fails.broken")
        raise KeyError("gone")

    await ctx.run_typed("broken", broken)
    return "unreachable"


@svc.handler()
async def run_uses_context(ctx: Context) -> str:
    def sneaky() -> str:
        counted("run_uses_context.sneaky")
        ctx.random()
        return "unreachable"

    return await ctx.run_typed("sneaky", sneaky)


@svc.handler()
async def terminal(ctx: Context, n: int) -> str:
    await ctx.run_typed("before", counted, RunOptions(), "terminal.before", n)
    raise TerminalError("no such thing", status_code=404)


@svc.handler()
async def retryable(ctx: Context) -> str:
    raise RetryableError("later", status_code=503, retry_after=timedelta(seconds=3))


@svc.handler()
async def crashes(ctx: Context) -> str:
    ctx.service_send(h.charge, 1)
    raise KeyError("missing")


@svc.handler()
async def unserializable(ctx: Context) -> Any:
    return object()


@svc.handler()
async def typed_input(ctx: Context, n: int) -> int:
    return n


@svc.handler()
async def sleeps(ctx: Context, n: int) -> int:
    a = await ctx.run_typed("a", counted, RunOptions(), "sleeps.a", n)
    await ctx.sleep(timedelta(seconds=1), name="nap")
    b = await ctx.run_typed("b", counted, RunOptions(), "sleeps.b", a + 1)
    return b


@svc.handler()
async def calls(ctx: Context, n: int) -> str:
    charged = await ctx.service_call(h.charge, n)
    return f"{charged} then {await ctx.service_call(h.refund, n)}"


@svc.handler()
async def awakeable(ctx: Context) -> str:
    _, fut = ctx.awakeable(type_hint=str)
    return f"got {await fut}"


@svc.handler()
async def yields_to_loop(ctx: Context, n: int) -> int:
    a = await ctx.run_typed("a", counted, RunOptions(), "yields_to_loop.a", n)
    await asyncio.sleep(0)
    event = asyncio.Event()
    asyncio.get_running_loop().call_soon(event.set)
    await event.wait()
    return await ctx.run_typed("b", counted, RunOptions(), "yields_to_loop.b", a + 1)


@svc.handler()
async def raw_tasks(ctx: Context) -> list[int]:
    async def branch(i: int) -> int:
        await ctx.sleep(timedelta(seconds=i))
        return await ctx.run_typed(f"r{i}", counted, RunOptions(), f"raw_tasks.r{i}", i * 10)

    return list(await asyncio.gather(branch(1), branch(2)))


@lazy_obj.handler()
async def lazy_bump(ctx: ObjectContext) -> int:
    n = await ctx.get("n", type_hint=int) or 0
    ctx.set("n", n + 1)
    return n + 1


entered: list[str] = []


@contextlib.asynccontextmanager
async def _tracking() -> AsyncIterator[None]:
    entered.append("enter")
    try:
        yield
    finally:
        entered.append("exit")


@svc.handler(invocation_context_managers=[_tracking])
async def managed(ctx: Context, n: int) -> int:
    return await ctx.run_typed("m", counted, RunOptions(), "managed.m", n)


@svc.handler()
async def cancelled(ctx: Context) -> str:
    try:
        await ctx.service_call(h.charge, 3)
    except TerminalError as e:
        return f"{e.status_code} {e.message}"
    return "unreachable"


# --- scenarios -------------------------------------------------------------------------------


@dataclass
class Scenario:
    handler: HandlerDefinition
    input: bytes = b""
    key: str | None = None
    state: dict[str, bytes] | None = None
    script: Callable[[], Script] = Script
    promises: dict[str, Any] = field(default_factory=dict)
    prepare: Callable[[FakeRuntime], None] | None = None
    max_attempts: int = 1


def _cancel_after_call(rt: FakeRuntime) -> None:
    rt.script.withhold = {1}


SCENARIOS: dict[str, Scenario] = {
    "counter_add": Scenario(h.APP.handler("Counter", "add"), b"5", "c1", {"count": b"3"}),
    "counter_add_empty": Scenario(h.APP.handler("Counter", "add"), b"5", "c1", {}),
    "counter_get": Scenario(h.APP.handler("Counter", "get"), b"", "c1", {"count": b"9"}),
    "steps_run": Scenario(h.APP.handler("Steps", "run"), b"5", "w1"),
    "orders_place": Scenario(
        h.APP.handler("Orders", "place"),
        b"4",
        script=lambda: Script(calls={("Payments", "refund"): json_value('"refunded 4"')}),
    ),
    "orders_race": Scenario(
        h.APP.handler("Orders", "race"),
        b"7",
        script=lambda: Script(calls={("Payments", "charge"): json_value('"charged 7"')}),
    ),
    "signup_run": Scenario(
        h.APP.handler("Signup", "signup_run"),
        b'"a@b"',
        "w1",
        promises={"code": json_value('"1234"')},
    ),
    "signup_confirm": Scenario(
        h.APP.handler("Signup", "confirm"),
        b'"1234"',
        "w1",
        promises={"code": json_value('"0000"')},
    ),
    "publish": Scenario(h.APP.handler("Publisher", "publish"), b"3"),
    "state_ops": Scenario(obj.handlers["state_ops"], b"2", "k", {"a": b"40", "z": b"1"}),
    "sends": Scenario(obj.handlers["sends"], b"2", "k", {}),
    "determinism": Scenario(svc.handlers["determinism"]),
    "two_runs": Scenario(svc.handlers["two_runs"], b"1"),
    "async_runs": Scenario(svc.handlers["async_runs"], b"1"),
    "gathered": Scenario(svc.handlers["gathered"], b"1"),
    "first_of": Scenario(svc.handlers["first_of"], b"1"),
    "retried": Scenario(svc.handlers["retried"]),
    "run_exhausted": Scenario(svc.handlers["run_exhausted"]),
    "run_terminal": Scenario(svc.handlers["run_terminal"]),
    "run_fails": Scenario(svc.handlers["run_fails"], max_attempts=2),
    "run_uses_context": Scenario(svc.handlers["run_uses_context"]),
    "terminal": Scenario(svc.handlers["terminal"], b"1"),
    "retryable": Scenario(svc.handlers["retryable"]),
    "crashes": Scenario(svc.handlers["crashes"]),
    "unserializable": Scenario(svc.handlers["unserializable"]),
    "bad_input": Scenario(svc.handlers["typed_input"], b'"not a number"'),
    "sleeps": Scenario(svc.handlers["sleeps"], b"1"),
    "calls": Scenario(
        svc.handlers["calls"],
        b"2",
        script=lambda: Script(
            calls={
                ("Payments", "charge"): json_value('"charged 2"'),
                ("Payments", "refund"): json_value('"refunded 2"'),
            }
        ),
    ),
    "awakeable": Scenario(
        svc.handlers["awakeable"], script=lambda: Script(awakeables=[json_value('"yes"')])
    ),
    "awakeable_rejected": Scenario(
        svc.handlers["awakeable"], script=lambda: Script(awakeables=[Failure(500, "no")])
    ),
    "yields_to_loop": Scenario(svc.handlers["yields_to_loop"], b"1"),
    "raw_tasks": Scenario(svc.handlers["raw_tasks"]),
    "lazy_state": Scenario(lazy_obj.handlers["lazy_bump"], b"", "k", {"n": b"4"}),
    "managed": Scenario(svc.handlers["managed"], b"6"),
    "cancelled": Scenario(svc.handlers["cancelled"], prepare=_cancel_after_call),
}


@dataclass
class Outcome:
    journal: list[bytes]
    status: tuple[Any, ...]
    state: dict[str, bytes]
    runs: dict[str, int]
    inline: list[Progress | None]


def _status_key(status: Status) -> tuple[Any, ...]:
    if isinstance(status, Done):
        return ("Done", encode_entry(status.output))
    if isinstance(status, Failed):
        last = status.stacktrace.splitlines()[-1] if status.stacktrace else None
        return (
            "Failed",
            status.code,
            status.message,
            status.retry_after,
            status.command_index,
            last,
        )
    return ("Blocked", sorted(status.awaiting), status.needs_ack, status.resumable)


async def _run(s: Scenario, mode: Mode, always_replay: bool) -> Outcome:
    RUNS.clear()
    _flaky_calls.clear()
    rt = FakeRuntime(
        s.handler,
        input=s.input,
        key=s.key,
        state=s.state,
        script=s.script(),
        promises=s.promises,
        always_replay=always_replay,
        inline=None if mode == "advance" else mode,
    )
    if s.prepare is not None:
        s.prepare(rt)
    status = await rt.run(max_attempts=s.max_attempts)
    if s.prepare is _cancel_after_call:  # cancel while the call is pending, then finish
        assert isinstance(status, Blocked)
        rt.cancel()
        status = await rt.run()
    return Outcome(
        [encode_entry(e) for e in rt.journal],
        _status_key(status),
        dict(rt.state),
        dict(RUNS),
        rt.inline_progress,
    )


@pytest.mark.parametrize("always_replay", [False, True], ids=["live", "always_replay"])
@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_inline_journal_is_the_advance_journal(name: str, always_replay: bool) -> None:
    s = SCENARIOS[name]
    reference = await _run(s, "advance", always_replay)
    for mode in ("inline", "defer"):
        got = await _run(s, mode, always_replay)  # type: ignore[arg-type]
        assert got.journal == reference.journal, mode
        assert got.status == reference.status, mode
        assert got.state == reference.state, mode
        assert got.runs == reference.runs, mode
        assert got.inline, mode  # run_inline really started the attempt


# Which scenarios must finish inline (no hand-over) in each mode: the point of the path.
FINISH_INLINE = {
    "inline": {
        "counter_add",
        "counter_add_empty",
        "counter_get",
        "state_ops",
        "sends",
        # attempts that fail before or at their first ctx.run result
        "run_fails",
        "run_uses_context",
        "retryable",
        "crashes",
        "unserializable",
        "bad_input",
    },
    "defer": {
        "counter_add",
        "counter_add_empty",
        "counter_get",
        "state_ops",
        "sends",
        "determinism",
        "two_runs",
        "steps_run",
        "publish",
        "run_terminal",
        "run_fails",
        "run_uses_context",
        "terminal",
        "retryable",
        "crashes",
        "unserializable",
        "bad_input",
        "managed",
    },
}


@pytest.mark.parametrize("mode", ["inline", "defer"])
async def test_what_finishes_inline(mode: Mode) -> None:
    finished = set()
    for name, s in SCENARIOS.items():
        got = await _run(s, mode, always_replay=False)
        if got.inline[0] is not None:
            finished.add(name)
    assert finished == FINISH_INLINE[mode]


# --- golden journals, replayed both ways -------------------------------------------------

GOLDEN_FILES = sorted(GOLDEN_DIR.glob("*.json"))


def _golden_driver(path: Path) -> tuple[InvocationDriver, list[JournalEntry]]:
    golden, journal = load_golden(path)
    service, handler_name = golden["handler"].split("/")
    state = golden["eager_state"]
    descriptor = InvocationDescriptor(
        invocation_id=golden["invocation_id"],
        service=service,
        handler=handler_name,
        key=golden["key"],
        input=golden["input"].encode(),
        random_seed=1,
        eager_state={k: v.encode() for k, v in state.items()} if state is not None else None,
    )
    handler = h.APP.handler(service, handler_name)
    return InvocationDriver(handler, descriptor, journal, clock=lambda: 1_000.0), journal


def _progress_key(p: Progress) -> tuple[Any, ...]:
    return (
        [encode_entry(e) for e in p.new_entries],
        [encode_entry(e) for e in p.journal_delta],
        _status_key(p.status),
        p.journal_length,
    )


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=[p.stem for p in GOLDEN_FILES])
async def test_golden_inline_matches_advance(path: Path) -> None:
    """The first Progress of a fresh driver: run_inline (+ advance) == advance, byte for byte."""
    h.CALLS.clear()
    driver, journal = _golden_driver(path)
    expected = await driver.advance()
    expected_calls = dict(h.CALLS)
    h.CALLS.clear()
    driver, _ = _golden_driver(path)
    got = driver.run_inline()
    if got is None:
        got = await driver.advance()
    assert _progress_key(got) == _progress_key(expected)
    assert dict(h.CALLS) == expected_calls
    assert list(driver.journal[: len(journal)]) == journal


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_journal_written_inline_replays_on_the_normal_path(name: str) -> None:
    """A finished journal produced with defer_durability replays with nothing new to do."""
    s = SCENARIOS[name]
    produced = await _run(s, "defer", always_replay=False)
    if produced.status[0] != "Done":
        return
    RUNS.clear()
    rt = FakeRuntime(
        s.handler,
        input=s.input,
        key=s.key,
        state=s.state,
        script=s.script(),
        journal=[decode_entry(b) for b in produced.journal],
    )
    progress = await rt.step()
    assert _status_key(progress.status) == produced.status
    assert progress.new_entries == ()
    assert dict(RUNS) == {}


# --- hand-over ---------------------------------------------------------------------------


def _driver(handler: HandlerDefinition, input: bytes = b"", **kw: Any) -> InvocationDriver:
    key = "k" if handler.is_keyed else None
    descriptor = InvocationDescriptor(
        invocation_id=INVOCATION_ID,
        service=handler.service_name,
        handler=handler.name,
        key=key,
        input=input,
        eager_state={} if key else None,
    )
    return InvocationDriver(handler, descriptor, clock=lambda: 1_000.0, **kw)


async def test_hand_over_reports_inline_entries_with_the_next_advance() -> None:
    RUNS.clear()
    driver = _driver(svc.handlers["sleeps"], b"1")
    assert driver.run_inline(defer_durability=True) is None
    p = await driver.advance()
    assert isinstance(p.status, Blocked) and p.status.awaiting == {2}
    assert not p.status.needs_ack  # the run result before the sleep was acknowledged inline
    assert [type(e).__name__ for e in p.new_entries] == [
        "InputCommand",
        "RunCommand",
        "Completion",
        "SleepCommand",
    ]
    assert p.journal_delta == p.new_entries
    p = await driver.advance([Completion(2, Void())])
    assert isinstance(p.status, Blocked) and p.status.needs_ack
    p = await driver.advance(durable=True)
    assert isinstance(p.status, Done) and p.status.value == b"2"
    assert RUNS == {"sleeps.a": 1, "sleeps.b": 1}


async def test_notifications_passed_after_a_hand_over_come_after_the_inline_entries() -> None:
    driver = _driver(svc.handlers["calls"], b"2")
    assert driver.run_inline() is None
    p = await driver.advance([Completion(1, json_value('"charged 2"'))])
    assert [type(e).__name__ for e in p.journal_delta] == [
        "InputCommand",
        "CallCommand",
        "Completion",
        "CallCommand",
    ]
    assert [type(e).__name__ for e in p.new_entries] == [
        "InputCommand",
        "CallCommand",
        "CallCommand",
    ]
    assert isinstance(p.status, Blocked) and p.status.awaiting == {2}


async def test_without_defer_a_run_result_waits_for_the_acknowledgement() -> None:
    RUNS.clear()
    driver = _driver(svc.handlers["two_runs"], b"1")
    assert driver.run_inline() is None
    assert RUNS == {"two_runs.a": 1}  # ran inline, once
    p = await driver.advance()
    assert isinstance(p.status, Blocked) and p.status.needs_ack
    assert [type(e).__name__ for e in p.new_entries] == ["InputCommand", "RunCommand", "Completion"]
    p = await driver.advance(durable=True)
    assert isinstance(p.status, Blocked) and p.status.needs_ack
    p = await driver.advance(durable=True)
    assert isinstance(p.status, Done) and p.status.value == b"4"
    assert RUNS == {"two_runs.a": 1, "two_runs.b": 1}


async def test_an_action_awaiting_io_is_continued_not_restarted() -> None:
    RUNS.clear()
    driver = _driver(svc.handlers["async_runs"], b"1")
    assert driver.run_inline(defer_durability=True) is None
    assert RUNS == {"async_fast": 1}  # "slow" started inline, suspended in its sleep
    p = await driver.advance()
    while isinstance(p.status, Blocked):
        p = await driver.advance(durable=True)
    assert isinstance(p.status, Done) and p.status.value == b"[101,201,3]"
    assert RUNS == {"async_fast": 1, "async_io": 1, "async_runs.again": 1}


async def test_held_runs_are_not_started_inline() -> None:
    RUNS.clear()
    driver = _driver(svc.handlers["two_runs"], b"1", hold_runs=True)
    assert driver.run_inline(defer_durability=True) is None
    assert RUNS == {}
    driver.release_runs()
    p = await driver.advance()
    assert isinstance(p.status, Blocked) and p.status.needs_ack
    assert RUNS == {"two_runs.a": 1}


@svc.handler()
async def times_out(ctx: Context) -> str:
    try:
        async with asyncio.timeout(0.05):
            await ctx.sleep(timedelta(hours=1), name="never")
    except TimeoutError:
        return "timed out"
    return "slept"


async def test_asyncio_timeout_entered_inline_cancels_the_handler_not_the_caller() -> None:
    outputs = []
    for inline in (False, True):
        driver = _driver(svc.handlers["times_out"])
        if not inline:
            p = await driver.advance()
        else:
            assert driver.run_inline() is None
            p = await driver.advance()
        assert isinstance(p.status, Blocked)
        await asyncio.sleep(0.1)  # the timeout fires: this task must not be the one cancelled
        p = await driver.advance()
        assert isinstance(p.status, Done)
        outputs.append((p.status.value, [encode_entry(e) for e in driver.journal]))
    assert outputs[0] == outputs[1]
    assert outputs[0][0] == b'"timed out"'


seen_tasks: list[Any] = []


@svc.handler()
async def task_identity(ctx: Context) -> str:
    seen_tasks.append(asyncio.current_task())
    await ctx.sleep(timedelta(seconds=1))
    seen_tasks.append(asyncio.current_task())
    return "ok"


async def test_current_task_inline_is_never_the_callers() -> None:
    seen_tasks.clear()
    caller = asyncio.current_task()
    driver = _driver(svc.handlers["task_identity"])
    assert driver.run_inline() is None
    assert asyncio.current_task() is caller
    assert seen_tasks[0] is not caller
    p = await driver.advance()
    p = await driver.advance([Completion(1, Void())])
    assert isinstance(p.status, Done)
    inline_view, task = seen_tasks
    assert isinstance(task, asyncio.Task) and task is not caller
    assert inline_view.get_name() == task.get_name()  # the stand-in forwards to its Task
    assert inline_view.done()


# --- context variables -----------------------------------------------------------------------

observed: dict[str, Any] = {}


@svc.handler()
async def nested(ctx: Context, n: int) -> int:
    observed["outer_before"] = current_driver()
    inner = _driver(h.APP.handler("Payments", "charge"), b"5")
    p = inner.run_inline()
    assert p is not None
    observed["inner_status"] = p.status
    observed["outer_after"] = current_driver()
    observed["in_run_action"] = _in_run_action.get()
    return n


async def test_context_variables_around_nested_inline_runs() -> None:
    observed.clear()
    token = _current_driver.set(None)
    try:
        driver = _driver(svc.handlers["nested"], b"3")
        p = driver.run_inline()
        assert p is not None and isinstance(p.status, Done) and p.status.value == b"3"
        assert observed["outer_before"] is driver
        assert observed["outer_after"] is driver
        assert isinstance(observed["inner_status"], Done)
        assert observed["in_run_action"] is False
        assert current_driver() is None
        assert _in_run_action.get() is False
    finally:
        _current_driver.reset(token)


@svc.handler()
async def raises_base(ctx: Context) -> str:
    raise KeyboardInterrupt


async def test_context_and_current_task_are_restored_when_the_handler_raises() -> None:
    caller = asyncio.current_task()
    driver = _driver(svc.handlers["raises_base"])
    with pytest.raises(KeyboardInterrupt):
        driver.run_inline()
    assert current_driver() is None
    assert asyncio.current_task() is caller
    assert driver.finished
    p = await driver.advance()
    assert isinstance(p.status, Failed) and p.status.message == "handler raised KeyboardInterrupt"


in_action: list[Any] = []


@svc.handler()
async def action_sees(ctx: Context) -> str:
    def look() -> str:
        in_action.append((_in_run_action.get(), current_driver()))
        return "ok"

    result = await ctx.run_typed("look", look)
    in_action.append((_in_run_action.get(), current_driver()))
    return result


async def test_run_action_flag_is_set_inside_the_action_only() -> None:
    in_action.clear()
    driver = _driver(svc.handlers["action_sees"])
    p = driver.run_inline(defer_durability=True)
    assert p is not None and isinstance(p.status, Done)
    assert in_action == [(True, driver), (False, driver)]
    assert _in_run_action.get() is False


# --- misuse ----------------------------------------------------------------------------------


async def test_run_inline_starts_an_attempt_once() -> None:
    driver = _driver(svc.handlers["sleeps"], b"1")
    assert driver.run_inline() is None
    with pytest.raises(RuntimeError, match="once"):
        driver.run_inline()
    driver = _driver(svc.handlers["sleeps"], b"1")
    await driver.advance()
    with pytest.raises(RuntimeError, match="once"):
        driver.run_inline()
    await driver.close()
    with pytest.raises(DriverClosedError):
        driver.run_inline()


async def test_run_inline_after_the_end_returns_the_end() -> None:
    driver = _driver(h.APP.handler("Payments", "charge"), b"1")
    first = driver.run_inline()
    assert first is not None and isinstance(first.status, Done)
    again = driver.run_inline()
    assert again is not None and again.status == first.status and again.new_entries == ()


def test_run_inline_needs_a_running_loop() -> None:
    driver = _driver(h.APP.handler("Payments", "charge"), b"1")
    with pytest.raises(RuntimeError, match="no running event loop"):
        driver.run_inline()


async def test_malformed_journal_fails_inline_as_in_advance() -> None:
    driver = InvocationDriver(
        h.APP.handler("Payments", "charge"),
        InvocationDescriptor(invocation_id=INVOCATION_ID, service="Payments", handler="charge"),
        [RunCommand(name="x")],
    )
    p = driver.run_inline()
    assert p is not None and isinstance(p.status, Failed) and p.status.code == 571


async def test_replayed_run_result_is_not_executed_inline() -> None:
    RUNS.clear()
    journal: list[JournalEntry] = [
        InputCommand(body=b"1"),
        RunCommand(name="a"),
        Completion(1, Value(b"100")),
    ]
    driver = InvocationDriver(
        svc.handlers["two_runs"],
        InvocationDescriptor(invocation_id=INVOCATION_ID, service="Inline", handler="two_runs"),
        journal,
    )
    p = driver.run_inline(defer_durability=True)
    assert p is not None and isinstance(p.status, Done) and p.status.value == b"200"
    assert RUNS == {"two_runs.b": 1}
