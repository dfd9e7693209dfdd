"""Human-readable views of journal entries for ``GET /invocations/{id}?journal=true``.

Besides Restate's ``sys_journal`` columns (index, type, command index, name), each view
carries what a timeline needs to link and explain an entry: the other invocation of a
call, the awakeable id, a sleep's wake-up time, the result or failure, and a UTF-8
preview of the payload. Payloads stay bytes in the journal; nothing here parses them.
"""

from __future__ import annotations

import json
from collections import deque
from datetime import UTC, datetime

from runtime.admin.invocation_models import JournalEntryView
from sdk import engine as sj

VALUE_PREVIEW_CHARS = 2000
"""Longest payload text a journal entry view carries."""

_NAMED = (
    sj.RunCommand,
    sj.SleepCommand,
    sj.GetPromiseCommand,
    sj.PeekPromiseCommand,
    sj.CompletePromiseCommand,
    sj.SignalCommand,
    sj.SendSignalCommand,
    sj.NamedSignal,
)
_KEYED = (sj.GetStateCommand, sj.SetStateCommand, sj.ClearStateCommand)
_OTHER_INVOCATION = (
    sj.CallCommand,
    sj.SendCommand,
    sj.AttachInvocationCommand,
    sj.GetInvocationOutputCommand,
    sj.CancelInvocationCommand,
    sj.SendSignalCommand,
)


def _name(entry: sj.JournalEntry) -> str | None:
    if isinstance(entry, _NAMED):
        return entry.name
    if isinstance(entry, _KEYED):
        return entry.key
    if isinstance(entry, sj.CallCommand | sj.SendCommand):
        parts = [entry.service, entry.key, entry.handler]
        return "/".join(p for p in parts if p is not None) + f" ({entry.invocation_id})"
    if isinstance(entry, sj.CancelInvocationCommand):
        return entry.invocation_id
    if isinstance(entry, sj.EmitCommand):
        return entry.topic
    if isinstance(entry, sj.Completion):
        result = entry.result
        if isinstance(result, sj.Failure):
            return f"failure [{result.code}] {result.message}"
        return type(result).__name__.lower()
    return None


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def _payload(data: bytes) -> dict[str, object]:
    try:
        text: str | None = data.decode("utf-8")[:VALUE_PREVIEW_CHARS]
    except UnicodeDecodeError:
        text = None
    return {"value": text, "value_size": len(data)}


_WITH_RESULT = (
    sj.Completion,
    sj.OutputCommand,
    sj.CompletePromiseCommand,
    sj.CompleteAwakeableCommand,
    sj.SendSignalCommand,
    sj.NamedSignal,
)

_RESULT_NAMES: dict[type, str] = {
    sj.Value: "value",
    sj.Void: "void",
    sj.Failure: "failure",
    sj.StateKeys: "state_keys",
}


def _result(result: sj.Result) -> dict[str, object]:
    out: dict[str, object] = {"result": _RESULT_NAMES[type(result)]}
    if isinstance(result, sj.Failure):
        out["failure_code"] = result.code
        out["failure_message"] = result.message
    elif isinstance(result, sj.Value):
        out |= _payload(result.data)
    elif isinstance(result, sj.StateKeys):
        out |= _payload(json.dumps(result.keys).encode())
    return out


def _details(entry: sj.JournalEntry) -> dict[str, object]:
    """The optional fields of an entry's view."""
    out: dict[str, object] = {}
    if isinstance(entry, _OTHER_INVOCATION):
        out["invocation_id"] = entry.invocation_id
    if isinstance(entry, sj.AwakeableCommand | sj.CompleteAwakeableCommand):
        out["awakeable_id"] = entry.id
    if isinstance(entry, sj.SleepCommand):
        out["due_at"] = _iso(entry.wake_up_time_ms)
    elif isinstance(entry, sj.SendCommand):
        out["due_at"] = _iso(entry.invoke_time_ms)
    if isinstance(entry, _WITH_RESULT):
        out |= _result(entry.result)
    elif isinstance(entry, sj.InputCommand):
        out |= _payload(entry.body)
    elif isinstance(entry, sj.SetStateCommand):
        out |= _payload(entry.value)
    elif isinstance(entry, sj.CallCommand | sj.SendCommand):
        out |= _payload(entry.param)
    elif isinstance(entry, sj.EmitCommand):
        out |= _payload(entry.value)
    return out


def _view(
    index: int, entry_type: str, command_index: int | None, entry: sj.JournalEntry | None
) -> JournalEntryView:
    fields: dict[str, object] = {
        "index": index,
        "entry_type": entry_type,
        "command_index": command_index,
        "name": _name(entry) if entry is not None else None,
    }
    if entry is not None:
        fields |= _details(entry)
    return JournalEntryView.model_validate(fields)


def journal_view(blobs: list[bytes]) -> list[JournalEntryView]:
    """Decode stored journal blobs into views (undecodable ones say so)."""
    out: list[JournalEntryView] = []
    commands = 0
    waiting: dict[int, int] = {}
    """Command index -> position in ``out`` of completable commands not completed yet."""
    signal_waits: dict[str, deque[int]] = {}
    early_signals: dict[str, int] = {}
    """Named signals pair by rank with the ``SignalCommand`` of their name (ADR 0027)."""
    for i, blob in enumerate(blobs):
        try:
            entry = sj.decode_entry(blob)
        except Exception as e:  # noqa: BLE001 - show the entry as broken, keep the rest
            out.append(_view(i, f"Undecodable: {e}", None, None))
            continue
        if sj.is_command(entry):
            kind = type(entry).__name__.removesuffix("Command")
            if isinstance(entry, sj.SignalCommand) and early_signals.get(entry.name):
                early_signals[entry.name] -= 1
            elif isinstance(entry, sj.SignalCommand):
                signal_waits.setdefault(entry.name, deque()).append(commands)
                waiting[commands] = len(out)
            elif type(entry) in sj.COMPLETABLE:
                waiting[commands] = len(out)
            out.append(_view(i, f"Command: {kind}", commands, entry))
            commands += 1
        elif isinstance(entry, sj.Completion):
            waiting.pop(entry.command_index, None)
            out.append(_view(i, "Notification: Completion", entry.command_index, entry))
        elif isinstance(entry, sj.NamedSignal):
            queue = signal_waits.get(entry.name)
            if queue:
                waiting.pop(queue.popleft(), None)
            else:
                early_signals[entry.name] = early_signals.get(entry.name, 0) + 1
            out.append(_view(i, "Notification: Signal", None, entry))
        else:
            out.append(_view(i, "Notification: Cancel", None, None))
    for position in waiting.values():
        out[position].pending = True
    return out
