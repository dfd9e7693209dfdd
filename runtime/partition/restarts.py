"""Restarting a completed invocation as a new one, from a prefix of its journal.

``PATCH /invocations/{id}/restart-as-new?from=N`` (Restate's shape) starts a new
invocation with the old one's target, headers and input; with ``from`` it also
keeps the old journal's entries ``1..N`` and the completions of the commands
among them (wherever they are in the journal), so the new invocation's first
attempt replays that part (a ``ctx.run`` in it is not run again) and runs the
rest anew. :func:`restart_prefix` computes those entries from the old journal
(the admin API, before it appends the ``Invoke``); :func:`seed_journal` is the
partition machine's bookkeeping when such an ``Invoke`` is applied.

Pure: no I/O. Owns the prefix rules; may not decide who may be restarted (the
admin API does).
"""

from __future__ import annotations

from runtime.partition import journal as J
from runtime.partition.status import InvocationStatus
from sdk import engine as sj


class PrefixError(ValueError):
    """The journal prefix cannot be kept (out of range, an uncompleted command, the end)."""


def restart_prefix(journal: list[bytes], upto: int) -> list[bytes]:
    """The entries a restart from ``upto`` keeps after the input: entries ``1..upto`` and
    the completions of their commands journaled later (in journal order); a cancel
    signal is not kept.

    Args:
        journal: The completed invocation's journal (entry 0 is its input).
        upto: The last journal entry index to keep (0: the input only).

    Returns:
        The entry blobs to start the new invocation's journal with, after its input.

    Raises:
        PrefixError: If ``upto`` is out of the journal, the prefix holds the
            invocation's output, or a command in it has no completion.

    Example:
        >>> restart_prefix([input_blob], 0)  # doctest: +SKIP
        []
    """
    if upto < 0 or upto >= len(journal):
        raise PrefixError(f"from={upto} is outside the journal (entries 0..{len(journal) - 1})")
    kept: list[bytes] = []
    waiting: dict[int, str] = {}
    """Completable commands of the prefix without a completion yet -> their kind."""
    command = 1  # the input is command 0
    for i, blob in enumerate(journal[1:], start=1):
        entry = J.decode(blob)
        if i <= upto:
            if isinstance(entry, sj.OutputCommand):
                raise PrefixError(
                    f"from={upto} keeps the invocation's output (entry {i}): "
                    "restart from an earlier entry"
                )
            if isinstance(entry, sj.CancelSignal):
                continue
            if J.is_command(entry):
                if type(entry) in sj.COMPLETABLE:
                    waiting[command] = entry.kind  # type: ignore[union-attr]
                command += 1
            elif isinstance(entry, J.Completion) and waiting.pop(entry.command_index, None) is None:
                continue  # a second completion of the same command: first one wins
            kept.append(blob)
        elif isinstance(entry, J.Completion) and entry.command_index in waiting:
            del waiting[entry.command_index]
            kept.append(blob)
    if waiting:
        missing = ", ".join(f"{index} ({kind})" for index, kind in sorted(waiting.items()))
        raise PrefixError(
            f"from={upto} keeps commands that never completed: {missing}; "
            "restart from an earlier entry"
        )
    return kept


def seed_journal(st: InvocationStatus, entries: list[bytes]) -> None:
    """Count the kept entries of a restarted invocation into its status (the journal
    already holds its input)."""
    for blob in entries:
        entry = J.decode(blob)
        if J.is_command(entry):
            st.commands += 1
        elif isinstance(entry, J.Completion):
            st.completed.append(entry.command_index)
    st.journal_len += len(entries)
