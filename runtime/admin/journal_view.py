"""Human-readable views of journal entries for ``GET /invocations/{id}?journal=true``."""

from __future__ import annotations

from runtime.admin.invocation_models import JournalEntryView
from sdk import engine as sj

_NAMED = (
    sj.RunCommand,
    sj.SleepCommand,
    sj.GetPromiseCommand,
    sj.PeekPromiseCommand,
    sj.CompletePromiseCommand,
)
_KEYED = (sj.GetStateCommand, sj.SetStateCommand, sj.ClearStateCommand)


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
    if isinstance(entry, sj.Completion):
        result = entry.result
        if isinstance(result, sj.Failure):
            return f"failure [{result.code}] {result.message}"
        return type(result).__name__.lower()
    return None


def journal_view(blobs: list[bytes]) -> list[JournalEntryView]:
    """Decode stored journal blobs into views (undecodable ones say so)."""
    out: list[JournalEntryView] = []
    commands = 0
    for i, blob in enumerate(blobs):
        try:
            entry = sj.decode_entry(blob)
        except Exception as e:  # noqa: BLE001 - show the entry as broken, keep the rest
            out.append(
                JournalEntryView(
                    index=i, entry_type=f"Undecodable: {e}", command_index=None, name=None
                )
            )
            continue
        if sj.is_command(entry):
            kind = type(entry).__name__.removesuffix("Command")
            out.append(
                JournalEntryView(
                    index=i,
                    entry_type=f"Command: {kind}",
                    command_index=commands,
                    name=_name(entry),
                )
            )
            commands += 1
        elif isinstance(entry, sj.Completion):
            out.append(
                JournalEntryView(
                    index=i,
                    entry_type="Notification: Completion",
                    command_index=entry.command_index,
                    name=_name(entry),
                )
            )
        else:
            out.append(
                JournalEntryView(
                    index=i, entry_type="Notification: Cancel", command_index=None, name=None
                )
            )
    return out
