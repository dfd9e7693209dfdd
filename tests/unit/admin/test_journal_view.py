"""The timeline fields of journal entry views: links, results, payload previews, pending."""

from __future__ import annotations

from runtime.admin.journal_view import VALUE_PREVIEW_CHARS, journal_view
from sdk import engine as sj

CALLEE = "inv_callee"


def _views(*entries: sj.JournalEntry) -> list[dict[str, object]]:
    return [
        v.model_dump(exclude_none=True) for v in journal_view([sj.encode_entry(e) for e in entries])
    ]


def test_calls_sleeps_awakeables_and_results() -> None:
    views = _views(
        sj.InputCommand(body=b'"hi"'),
        sj.CallCommand(service="Svc", handler="h", param=b"7", invocation_id=CALLEE),
        sj.SleepCommand(wake_up_time_ms=1_700_000_000_000, name="nap"),
        sj.AwakeableCommand(id="sign_1abc"),
        sj.Completion(1, sj.Value(b"42")),
        sj.Completion(2, sj.Void()),
        sj.SendCommand(
            service="Svc", handler="h", invocation_id="inv_later", invoke_time_ms=1_700_000_001_000
        ),
        sj.OutputCommand(result=sj.Failure(409, "cancelled")),
    )
    assert views[0] == {
        "index": 0,
        "entry_type": "Command: Input",
        "command_index": 0,
        "value": '"hi"',
        "value_size": 4,
        "pending": False,
    }
    assert views[1]["invocation_id"] == CALLEE and views[1]["value"] == "7"
    assert views[2]["due_at"] == "2023-11-14T22:13:20.000+00:00" and views[2]["name"] == "nap"
    assert views[3]["awakeable_id"] == "sign_1abc" and views[3]["pending"] is True
    assert (views[4]["result"], views[4]["value"], views[4]["command_index"]) == ("value", "42", 1)
    assert views[5]["result"] == "void"
    assert views[6]["invocation_id"] == "inv_later"
    assert views[6]["due_at"] == "2023-11-14T22:13:21.000+00:00"
    assert (views[7]["result"], views[7]["failure_code"], views[7]["failure_message"]) == (
        "failure",
        409,
        "cancelled",
    )
    assert [v["pending"] for v in views] == [False, False, False, True, False, False, False, False]


def test_payload_previews_are_cut_and_binary_is_not_shown() -> None:
    long = b"x" * (VALUE_PREVIEW_CHARS + 10)
    views = _views(
        sj.InputCommand(body=long),
        sj.SetStateCommand(key="k", value=b"\xff\xfe"),
        sj.GetStateKeysCommand(),
        sj.Completion(2, sj.StateKeys(["a", "b"])),
    )
    assert views[0]["value"] == "x" * VALUE_PREVIEW_CHARS
    assert views[0]["value_size"] == VALUE_PREVIEW_CHARS + 10
    assert "value" not in views[1] and views[1]["value_size"] == 2
    assert (views[3]["result"], views[3]["value"]) == ("state_keys", '["a", "b"]')
    assert views[2]["pending"] is False  # completed by entry 3


def test_named_signals_pair_with_their_waits_by_rank() -> None:
    """A signal completes the oldest open ctx.signal of its name; an early one the next."""
    views = _views(
        sj.InputCommand(),
        sj.NamedSignal("go", sj.Value(b'"early"'), "s/1"),
        sj.SignalCommand(name="go"),
        sj.SignalCommand(name="go"),
        sj.SignalCommand(name="stop"),
        sj.NamedSignal("go", sj.Failure(403, "no"), "s/2"),
        sj.SendSignalCommand(invocation_id=CALLEE, name="go", result=sj.Value(b"1")),
    )
    assert views[1]["entry_type"] == "Notification: Signal" and views[1]["name"] == "go"
    assert views[1]["value"] == '"early"'
    assert [v["pending"] for v in views[2:5]] == [False, False, True]
    assert views[5]["failure_code"] == 403
    send = views[6]
    assert send["entry_type"] == "Command: SendSignal" and send["invocation_id"] == CALLEE
    assert send["name"] == "go" and send["value"] == "1"
