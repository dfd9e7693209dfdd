"""The journal cursor: which entries the handler has seen, and the determinism check.

Pure and synchronous: no asyncio, no I/O. The driver (``sdk._engine``) feeds it
and asks it questions; golden tests exercise both together.

The visibility rule that makes replay deterministic (ADR 0003, "Visibility"):
the journal is read through a *cursor*. A notification is visible to the
handler only once the cursor has passed it, and the cursor only moves

1. when the handler issues a command: up to that command (replay), or to the
   end of the journal (live; never past an unacknowledged ``ctx.run`` result);
2. when the handler awaits something not yet visible: one notification at a
   time, stopping as soon as the await (or any other waiting await) is
   satisfied.

Live execution and replay follow the same rule, so combinators see the same
"which completed first" answer both times.

Named signals: the k-th :class:`~sdk._journal.SignalCommand` of a name is completed
by the k-th :class:`~sdk._journal.NamedSignal` of that name in the journal, before or
after the command. The completion is visible once the cursor has passed both.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from typing import NamedTuple

from sdk._journal import (
    _ID_FIELDS,
    NOTIFICATION_TYPES,
    CancelSignal,
    Command,
    Completion,
    InputCommand,
    JournalEntry,
    NamedSignal,
    Result,
    SignalCommand,
)

NON_DETERMINISM_CODE = 570
PROTOCOL_VIOLATION_CODE = 571


def _same_identity(a: Command, b: Command) -> bool:
    """``a.identity() == b.identity()``, without building the tuples (same kind = same type)."""
    if type(a) is not type(b):
        return False
    for f in _ID_FIELDS[type(a)]:  # noqa: SIM110 - all(<genexpr>) costs a generator per command
        if getattr(a, f) != getattr(b, f):
            return False
    return True


class JournalMismatch(Exception):  # noqa: N818 - domain term
    """The handler diverged from its journal (code 570)."""

    def __init__(self, message: str, command_index: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.command_index = command_index


class ProtocolViolation(Exception):  # noqa: N818 - domain term
    """The journal handed to the driver is malformed (code 571)."""


class Step(enum.Enum):
    """Outcome of :meth:`JournalMachine.step`."""

    NOTIFICATION = "notification"
    """A notification became visible."""
    SKIPPED = "skipped"
    """The cursor passed a command the handler had already issued."""
    COMMAND_AHEAD = "command_ahead"
    """The next entry is a journaled command the handler has not issued yet (replay)."""
    BARRIER = "barrier"
    """The next entry is a ``ctx.run`` result not yet acknowledged as durable."""
    END = "end"
    """The cursor is at the end of the journal."""


class Visible(NamedTuple):
    """A visible completion: its journal position and result (one per await: a tuple is
    the cheapest immutable record)."""

    position: int
    result: Result


class _Signals:
    """The named-signal pairing of one journal (made on first use: most handlers use none)."""

    __slots__ = ("commands", "waiters", "early", "signal_of", "ids")

    def __init__(self) -> None:
        self.commands: set[int] = set()
        """Indexes of the ``SignalCommand`` commands (and remote pseudo indexes) waiting."""
        self.waiters: dict[str, deque[int]] = {}
        """Per name, ``SignalCommand`` indexes no signal has completed yet."""
        self.early: dict[str, deque[int]] = {}
        """Per name, journal positions of ``NamedSignal`` entries no command took yet."""
        self.signal_of: dict[int, int] = {}
        """Journal position of a ``NamedSignal`` -> the command index it completes."""
        self.ids: set[str] = set()
        """Ids of the ``NamedSignal`` entries in the journal (a repeated one is ignored)."""


_NO_SIGNAL_COMMANDS: frozenset[int] = frozenset()


class JournalMachine:
    """Journal, cursor and command matching for one invocation attempt.

    Args:
        journal: The journal so far (durable). Must be empty or start with
            :class:`InputCommand`.

    Raises:
        ProtocolViolation: The journal is malformed.
    """

    cursor = 0
    next_command = 0
    cancel_pending = False
    barrier: int | None = None
    _signals: _Signals | None = None

    @property
    def signal_commands(self) -> AbstractSet[int]:
        """Indexes of the ``SignalCommand`` commands issued or journaled."""
        return self._signals.commands if self._signals is not None else _NO_SIGNAL_COMMANDS

    def _pairing(self) -> _Signals:
        if self._signals is None:
            self._signals = _Signals()
        return self._signals

    def __init__(self, journal: Sequence[JournalEntry]) -> None:
        self.journal: list[JournalEntry] = list(journal)
        self.command_positions: list[int] = []
        self._command_at: dict[int, int] = {}
        self.visible: dict[int, Visible] = {}
        self.completed_anywhere: set[int] = set()
        for pos, entry in enumerate(self.journal):
            self._index_entry(pos, entry)
        if self.command_positions and not isinstance(self.journal[0], InputCommand):
            raise ProtocolViolation(
                f"journal must start with InputCommand, got {type(self.journal[0]).__name__}"
            )
        self.replay_commands = len(self.command_positions)

    # -- bookkeeping -------------------------------------------------------

    def _index_entry(self, pos: int, entry: JournalEntry) -> None:
        if isinstance(entry, Completion):
            self.completed_anywhere.add(entry.command_index)
        elif isinstance(entry, CancelSignal):
            pass
        elif isinstance(entry, NamedSignal):
            self._pairing().ids.add(entry.id)
            self._signal_arrived(pos, entry.name)
        else:
            index = len(self.command_positions)
            self._command_at[pos] = index
            self.command_positions.append(pos)
            if isinstance(entry, SignalCommand):
                self._signal_awaited(index, entry.name)

    def await_signal(self, index: int, name: str) -> None:
        """A wait for named signal ``name`` without a journal command (a remote attempt's
        ``ctx.signal``), as pseudo index ``index``: paired like a ``SignalCommand``."""
        self._signal_awaited(index, name)

    def _signal_arrived(self, pos: int, name: str) -> None:
        """A ``NamedSignal`` at ``pos``: it completes the oldest waiting command, or waits."""
        signals = self._pairing()
        waiters = signals.waiters.get(name)
        if waiters:
            index = waiters.popleft()
            signals.signal_of[pos] = index
            self.completed_anywhere.add(index)
        else:
            signals.early.setdefault(name, deque()).append(pos)

    def _signal_awaited(self, index: int, name: str) -> None:
        """``SignalCommand`` ``index``: it takes the oldest signal no command took, or waits."""
        signals = self._pairing()
        signals.commands.add(index)
        early = signals.early.get(name)
        if not early:
            signals.waiters.setdefault(name, deque()).append(index)
            return
        pos = early.popleft()
        signals.signal_of[pos] = index
        self.completed_anywhere.add(index)
        if pos < self.cursor:  # already passed: visible from the signal's position
            signal = self.journal[pos]
            assert isinstance(signal, NamedSignal)
            self.visible[index] = Visible(pos, signal.result)

    @property
    def replaying(self) -> bool:
        """True while journaled commands remain that the handler has not re-issued."""
        return self.next_command < self.replay_commands

    def command(self, index: int) -> Command:
        """The command with ``index``."""
        entry = self.journal[self.command_positions[index]]
        assert not isinstance(entry, NOTIFICATION_TYPES)
        return entry

    def next_journaled_command(self) -> Command | None:
        """The next command the journal expects, during replay."""
        if self.next_command < len(self.command_positions):
            return self.command(self.next_command)
        return None

    # -- commands ----------------------------------------------------------

    def issue(self, build: Callable[[int], Command]) -> tuple[int, Command, bool]:
        """Issue the handler's next command.

        Args:
            build: Builds the command from its index (ids derive from it).

        Returns:
            ``(index, command, replayed)``; on replay ``command`` is the
            journaled one (use its recorded ids and times).

        Raises:
            JournalMismatch: The command differs from the journaled one.
        """
        return self.issue_command(build(self.next_command))

    def issue_command(self, cmd: Command) -> tuple[int, Command, bool]:
        """:meth:`issue` for a command that does not depend on its index."""
        index = self.next_command
        if index < len(self.command_positions):
            pos = self.command_positions[index]
            expected = self.journal[pos]
            assert not isinstance(expected, NOTIFICATION_TYPES)
            if not _same_identity(expected, cmd):
                raise JournalMismatch(
                    f"Non-deterministic journal at command {index}: expected "
                    f"{expected.describe()} but handler issued {cmd.describe()}",
                    index,
                )
            self._reveal_until(pos)
            self.cursor = pos + 1
            self.next_command += 1
            return index, expected, True
        journal = self.journal
        pos = len(journal)
        cursor = self.cursor
        if cursor < pos:
            limit = self.barrier if self.barrier is not None else pos
            if cursor < limit:
                self._reveal_until(limit)
                cursor = self.cursor
        journal.append(cmd)
        # Live, the command index is the number of journaled commands (_index_entry).
        self._command_at[pos] = index
        self.command_positions.append(pos)
        if cursor == pos:
            self.cursor = pos + 1
        self.next_command = index + 1
        if isinstance(cmd, SignalCommand):
            self._signal_awaited(index, cmd.name)
        return index, cmd, False

    def _reveal_until(self, pos: int) -> None:
        while self.cursor < pos:
            entry = self.journal[self.cursor]
            self._reveal(self.cursor, entry)
            self.cursor += 1

    def _reveal(self, pos: int, entry: JournalEntry) -> None:
        if isinstance(entry, Completion):
            if entry.command_index not in self.visible:
                self.visible[entry.command_index] = Visible(pos, entry.result)
        elif isinstance(entry, CancelSignal):
            self.cancel_pending = True
        elif isinstance(entry, NamedSignal):
            index = self._pairing().signal_of.get(pos)
            if index is not None and index not in self.visible:
                self.visible[index] = Visible(pos, entry.result)

    # -- notifications -----------------------------------------------------

    def append_notification(self, entry: Completion | CancelSignal | NamedSignal) -> int:
        """Append a notification (from the runtime, or SDK-produced state reads).

        A named signal whose id is in the journal already is not appended (a live attempt
        can be told about a signal its journal, read at start, holds): returns -1.
        """
        if isinstance(entry, NamedSignal) and entry.id:
            ids = self._pairing().ids
            if entry.id in ids:
                return -1
            ids.add(entry.id)
        pos = len(self.journal)
        self.journal.append(entry)
        if isinstance(entry, Completion):  # what _index_entry does for a notification
            self.completed_anywhere.add(entry.command_index)
        elif isinstance(entry, NamedSignal):
            self._signal_arrived(pos, entry.name)
        return pos

    def append_run_result(self, entry: Completion) -> int:
        """Append a ``ctx.run`` result; the cursor stops before it until :meth:`ack`."""
        pos = self.append_notification(entry)
        if self.barrier is None:
            self.barrier = pos
        return pos

    def ack(self) -> None:
        """Everything appended so far is durable: lift the run-result barrier."""
        self.barrier = None

    def step(self) -> Step:
        """Move the cursor over one entry, if it can."""
        if self.barrier is not None and self.cursor >= self.barrier:
            return Step.BARRIER
        if self.cursor >= len(self.journal):
            return Step.END
        entry = self.journal[self.cursor]
        if isinstance(entry, NOTIFICATION_TYPES):
            self._reveal(self.cursor, entry)
            self.cursor += 1
            return Step.NOTIFICATION
        if self._command_at[self.cursor] < self.next_command:
            self.cursor += 1
            return Step.SKIPPED
        return Step.COMMAND_AHEAD

    def consume_cancel(self) -> bool:
        """Take the pending cancellation signal, if any."""
        pending, self.cancel_pending = self.cancel_pending, False
        return pending
