"""Regenerate ``golden/*.json``: ``.venv/bin/python -m tests.unit.sdk.make_golden``.

Only run it when the journal format or a golden scenario changes on purpose,
and review the diff: the golden files are what the tests hold the engine to.
Journals come either from a recorded live run (through the fake runtime) or are
written by hand (the non-determinism cases: journals of an older handler version).
"""

from __future__ import annotations

import asyncio
from typing import Any

from sdk import _ids
from sdk.engine import (
    CallCommand,
    CancelSignal,
    CompletePromiseCommand,
    Completion,
    EmitCommand,
    Failure,
    InputCommand,
    JournalEntry,
    NamedSignal,
    RunCommand,
    SignalCommand,
    SleepCommand,
    Value,
    Void,
)
from tests.unit.sdk import handlers as h
from tests.unit.sdk.fake_runtime import INVOCATION_ID, FakeRuntime, json_value
from tests.unit.sdk.golden_io import GOLDEN_DIR, dump_golden


def _golden(
    name: str,
    description: str,
    handler: str,
    journal: list[JournalEntry],
    expect: dict[str, Any],
    *,
    key: str | None = None,
    input: str = "",
    eager_state: dict[str, str] | None = None,
) -> None:
    golden = {
        "description": description,
        "handler": handler,
        "invocation_id": INVOCATION_ID,
        "key": key,
        "input": input,
        "eager_state": eager_state,
        "expect": expect,
    }
    dump_golden(GOLDEN_DIR / f"{name}.json", golden, journal)


async def main() -> None:
    rt = FakeRuntime(h.APP.handler("Steps", "run"), input=b"5", key="w1")
    await rt.run()
    full = list(rt.journal)
    _golden(
        "run_not_reexecuted",
        "A finished three-step workflow replayed from its journal: no action runs again.",
        "Steps/run",
        full,
        {
            "status": "Done",
            "output": "11",
            "new_entries": [],
            "action_calls": {"step1": 0, "step2": 0, "step3": 0},
        },
        key="w1",
        input="5",
    )
    cut = next(i for i, e in enumerate(full) if isinstance(e, RunCommand) and e.name == "step3")
    _golden(
        "run_partial_replay",
        "Replay after step2's result was journaled: steps 1-2 come from the journal, "
        "step3 runs once and its result waits for the durability ack.",
        "Steps/run",
        full[:cut],
        {
            "status": "Blocked",
            "awaiting": [3],
            "needs_ack": True,
            "new_entries": ["Run", "Completion"],
            "action_calls": {"step1": 0, "step2": 0, "step3": 1},
        },
        key="w1",
        input="5",
    )

    v1 = [
        InputCommand(body=b"5"),
        RunCommand(name="validate"),
        Completion(1, json_value("5")),
        SleepCommand(wake_up_time_ms=1_001_000, name="cooldown"),
        Completion(2, Void()),
        RunCommand(name="charge"),
        Completion(3, json_value('"ok"')),
    ]
    _golden(
        "nondeterminism_run_vs_call",
        "Journal of version 1 of Orders/place (it charged in a ctx.run at command 3); "
        "version 2 calls Payments/refund there. Replay must fail with 570.",
        "Orders/place",
        v1,
        {
            "status": "Failed",
            "code": 570,
            "message": "Non-deterministic journal at command 3: expected Run(name='charge') "
            "but handler issued Call(service='Payments', handler='refund')",
            "action_calls": {"validate": 0},
        },
        input="5",
    )
    refund_id = _ids.child_invocation_id(INVOCATION_ID, 3, "Payments", None)
    v0 = [
        InputCommand(body=b"5"),
        RunCommand(name="validate"),
        Completion(1, json_value("5")),
        SleepCommand(wake_up_time_ms=1_001_000, name="cooldown"),
        CallCommand(service="Payments", handler="refund", param=b"5", invocation_id=refund_id),
    ]
    _golden(
        "nondeterminism_await",
        "The journal shows command 3 issued while the timer (command 2) was not yet "
        "fired; the handler awaits the timer first, so the journal cannot be replayed.",
        "Orders/place",
        v0,
        {
            "status": "Failed",
            "code": 570,
            "message": "Non-deterministic journal at command 3: expected "
            "Call(service='Payments', handler='refund') but handler is awaiting "
            "Sleep(name='cooldown') (command 2), which the journal does not complete "
            "before that command",
        },
        input="5",
    )

    charge_id = _ids.child_invocation_id(INVOCATION_ID, 1, "Payments", None)
    race = [
        InputCommand(body=b"7"),
        CallCommand(service="Payments", handler="charge", param=b"7", invocation_id=charge_id),
        SleepCommand(wake_up_time_ms=1_005_000, name="timeout"),
    ]
    _golden(
        "select_call_first",
        "select(call, timeout): both completed, the call's completion is first in the "
        "journal, so the call wins on replay.",
        "Orders/race",
        [*race, Completion(1, json_value('"charged 7"')), Completion(2, Void())],
        {"status": "Done", "output": '"charged 7"', "new_entries": ["Output"]},
        input="7",
    )
    _golden(
        "select_timeout_first",
        "The same completions in the other order: the timer wins.",
        "Orders/race",
        [*race, Completion(2, Void()), Completion(1, json_value('"charged 7"'))],
        {"status": "Done", "output": '"timed out"', "new_entries": ["Output"]},
        input="7",
    )
    _golden(
        "cancelled_call",
        "A cancellation signal arrives while the handler awaits a call: the call is "
        "cancelled (CancelInvocation) and the handler fails with 409 cancelled.",
        "Orders/guarded",
        [
            InputCommand(body=b"3"),
            CallCommand(service="Payments", handler="charge", param=b"3", invocation_id=charge_id),
            CancelSignal(),
        ],
        {
            "status": "Done",
            "failure": {"code": 409, "message": "cancelled"},
            "new_entries": ["CancelInvocation", "Output"],
        },
        input="3",
    )

    rt = FakeRuntime(h.APP.handler("Counter", "add"), input=b"5", key="c1", state={"count": b"3"})
    await rt.run()
    _golden(
        "counter_eager_state",
        "Counter/add with an eager state snapshot: the read and its value are journaled.",
        "Counter/add",
        list(rt.journal),
        {"status": "Done", "output": "8", "new_entries": []},
        key="c1",
        input="5",
        eager_state={"count": "3"},
    )
    _golden(
        "promise_already_completed",
        "Resolving a promise someone already completed: the runtime answers 409.",
        "Signup/confirm",
        [
            InputCommand(body=b'"1234"'),
            CompletePromiseCommand(name="code", result=Value(b'"1234"')),
            Completion(1, Failure(409, "promise was already completed")),
        ],
        {
            "status": "Done",
            "output": '"rejected: 409 promise was already completed"',
            "new_entries": ["Output"],
        },
        key="s1",
        input='"1234"',
    )
    rt = FakeRuntime(h.APP.handler("Publisher", "publish"), input=b"4")
    await rt.run()
    emitted = list(rt.journal)
    _golden(
        "emit_not_repeated",
        "A finished handler that emitted two Kafka records, replayed: no emit is issued again.",
        "Publisher/publish",
        emitted,
        {"status": "Done", "output": "8", "new_entries": [], "action_calls": {"total": 0}},
        input="4",
    )
    cut = next(i for i, e in enumerate(emitted) if isinstance(e, RunCommand))
    _golden(
        "emit_partial_replay",
        "Replay after the first emit was journaled: it is matched, not repeated; the second "
        "emit is new and waits behind the run result's durability ack.",
        "Publisher/publish",
        emitted[: cut + 1],
        {
            "status": "Blocked",
            "awaiting": [2],
            "needs_ack": True,
            "new_entries": ["Completion"],
            "action_calls": {"total": 1},
        },
        input="4",
    )
    _golden(
        "nondeterminism_emit_topic",
        "An older handler version emitted to another topic: replay fails with 570.",
        "Publisher/publish",
        [InputCommand(body=b"4"), EmitCommand(topic="orders.old", key=b"k1", value=b'{"n":4}')],
        {
            "status": "Failed",
            "code": 570,
            "message": "Non-deterministic journal at command 1: expected Emit(topic='orders.old') "
            "but handler issued Emit(topic='orders.placed')",
        },
        input="4",
    )

    await _signal_goldens()


async def _signal_goldens() -> None:
    yes, no = json_value('"a"'), json_value('"b"')
    _golden(
        "signal_early_kept",
        "Both signals arrived before the handler asked: they wait in the journal, and "
        "the first ctx.signal takes the first, the second the second.",
        "Approvals/both",
        [InputCommand(), NamedSignal("go", yes), NamedSignal("go", no)],
        {"status": "Done", "output": '"ab"', "new_entries": ["Signal", "Signal", "Output"]},
    )
    _golden(
        "signal_waits",
        "One signal arrived after the first ctx.signal: the second waits, and the "
        "suspension says a named signal resumes it (-2).",
        "Approvals/both",
        [InputCommand(), SignalCommand(name="go"), NamedSignal("go", yes)],
        {"status": "Blocked", "awaiting": [-2, 2], "needs_ack": False, "new_entries": ["Signal"]},
    )
    _golden(
        "signal_rejected",
        "A rejected signal surfaces as the TerminalError of its ctx.signal.",
        "Approvals/both",
        [InputCommand(), SignalCommand(name="go"), NamedSignal("go", Failure(403, "no"))],
        {"status": "Done", "failure": {"code": 403, "message": "no"}, "new_entries": ["Output"]},
    )
    race: list[JournalEntry] = [
        InputCommand(),
        SignalCommand(name="go"),
        SleepCommand(wake_up_time_ms=1_005_000, name="timeout"),
    ]
    _golden(
        "signal_select_signal_first",
        "select(signal, timeout): the signal is first in the journal, so it wins on replay.",
        "Approvals/deadline",
        [*race, NamedSignal("go", yes), Completion(2, Void())],
        {"status": "Done", "output": '"a"', "new_entries": ["Output"]},
    )
    _golden(
        "signal_select_timeout_first",
        "The same notifications in the other order: the timer wins.",
        "Approvals/deadline",
        [*race, Completion(2, Void()), NamedSignal("go", yes)],
        {"status": "Done", "output": '"timed out"', "new_entries": ["Output"]},
    )
    _golden(
        "signal_select_early",
        "The signal arrived before the handler asked for it: it is visible at once and "
        "wins over a timer that fired later.",
        "Approvals/deadline",
        [InputCommand(), NamedSignal("go", yes)],
        {"status": "Done", "output": '"a"', "new_entries": ["Signal", "Sleep", "Output"]},
    )
    _golden(
        "signal_nondeterminism",
        "An older handler version waited for signal 'stop' at command 1: replay fails with 570.",
        "Approvals/both",
        [InputCommand(), SignalCommand(name="stop")],
        {
            "status": "Failed",
            "code": 570,
            "message": "Non-deterministic journal at command 1: expected Signal(name='stop') "
            "but handler issued Signal(name='go')",
        },
    )
    target = _ids.child_invocation_id(INVOCATION_ID, 1, "Approvals", None)
    _golden(
        "signal_send",
        "resolve_signal / reject_signal journal SendSignal commands and never wait.",
        "Approvals/notify",
        [InputCommand(body=f'"{target}"'.encode())],
        {
            "status": "Done",
            "output": '"sent"',
            "new_entries": ["SendSignal", "SendSignal", "Output"],
        },
        input=f'"{target}"',
    )
    _golden(
        "signal_send_bad_id",
        "A malformed target invocation id fails the sender at once with 400; nothing is sent.",
        "Approvals/notify",
        [InputCommand(body=b'"inv_1"')],
        {
            "status": "Done",
            "failure": {"code": 400, "message": "bad invocation id 'inv_1'"},
            "new_entries": ["Output"],
        },
        input='"inv_1"',
    )


if __name__ == "__main__":
    asyncio.run(main())
