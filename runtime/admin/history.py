"""The invocation history in the admin API: completed invocations, listed newest first.

``GET /invocations?status=completed`` lists the invocations that completed and
are still retained (their status is kept for their journal, idempotency or
workflow retention), read from each partition's history index
(:meth:`runtime.state.reads.StateReads.history`), newest completion first.
Filters: ``service``, ``handler``, ``key``, ``result`` (:class:`CompletionKind`),
``created_after/before`` and ``completed_after/before`` (exclusive bounds).
Pages: ``limit`` per page; the answer's ``next_cursor`` passed back as ``cursor``
continues after the last one returned (stable while new invocations complete);
``offset`` skips matches after the cursor. ``total`` is not counted (it would
read every retained status).

Owns the completion kinds, the cursor format and the history query; may not
write anything.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime

from runtime.admin.invocation_models import InvocationDescription
from runtime.partition.status import Outcome
from runtime.state.reads import StateReads


class CompletionKind(enum.StrEnum):
    """How a completed invocation ended, as ``completion_kind`` shows it and ``result``
    filters it. NEVER CHANGE a value (admin wire format, CLI filters).

    ``failure`` is a terminal failure other than a kill or a cancellation; Restate's
    ``completion_result`` (``success`` | ``failure``) counts all three as ``failure``.
    """

    SUCCESS = "success"
    FAILURE = "failure"
    KILLED = "killed"
    CANCELLED = "cancelled"


KILLED_CODE = 409
"""The code of the failure a kill or a cancellation ends an invocation with."""


def completion_kind(outcome: Outcome | None) -> CompletionKind | None:
    """How an invocation with this outcome ended (None: no outcome, not completed).

    A kill ends an invocation with ``409 killed``; a cancellation with ``409
    cancelled`` (the runtime's, for one that had not started, or the SDK's
    ``TerminalError("cancelled", 409)`` that the handler let through).

    Example:
        >>> from runtime.log.records import Failure
        >>> completion_kind(Outcome(failure=Failure(409, "killed")))
        <CompletionKind.KILLED: 'killed'>
    """
    if outcome is None:
        return None
    f = outcome.failure
    if f is None:
        return CompletionKind.SUCCESS
    if f.code == KILLED_CODE and f.message == "killed":
        return CompletionKind.KILLED
    if f.code == KILLED_CODE and f.message == "cancelled":
        return CompletionKind.CANCELLED
    return CompletionKind.FAILURE


class BadCursor(ValueError):
    """A ``cursor`` that no history page returned."""


def encode_cursor(completed_ms: int, invocation_id: str) -> str:
    """The cursor after the invocation ``invocation_id`` completed at ``completed_ms``."""
    return f"{completed_ms}.{invocation_id}"


def decode_cursor(cursor: str) -> tuple[int, str]:
    """The (completion ms, id) a cursor names.

    Raises:
        BadCursor: If it is not of the form ``encode_cursor`` returns.
    """
    ms, sep, inv_id = cursor.partition(".")
    if not sep or not ms.isdigit() or not inv_id.startswith("inv_"):
        raise BadCursor(f"invalid cursor {cursor!r}: pass the next_cursor of a previous page")
    return int(ms), inv_id


def epoch_ms(at: datetime) -> int:
    """Milliseconds since the epoch (a time without a zone is UTC)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return int(at.timestamp() * 1000)


def _ms_of(iso: str | None) -> int | None:
    return None if not iso else epoch_ms(datetime.fromisoformat(iso))


@dataclass(frozen=True)
class TimeFilter:
    """Bounds on creation and completion time (epoch ms, exclusive; None: open)."""

    created_after: int | None = None
    created_before: int | None = None
    completed_after: int | None = None
    completed_before: int | None = None

    def matches(self, d: InvocationDescription) -> bool:
        """Whether ``d`` was created (and completed) inside the bounds."""
        if self.created_after is not None or self.created_before is not None:
            created = _ms_of(d.created_at)
            if created is None or not _inside(created, self.created_after, self.created_before):
                return False
        if self.completed_after is not None or self.completed_before is not None:
            done = _ms_of(d.completed_at)
            if done is None or not _inside(done, self.completed_after, self.completed_before):
                return False
        return True


def _inside(ms: int, after: int | None, before: int | None) -> bool:
    return (after is None or ms > after) and (before is None or ms < before)


@dataclass(frozen=True)
class HistoryPage:
    """One page of the history."""

    invocations: list[InvocationDescription]
    more: bool
    """Whether more matched after the page."""
    next_cursor: str | None
    """Where the next page starts (None when nothing more matched)."""


View = Callable[[bytes, int], InvocationDescription | None]
"""(status blob, journal length) -> the admin view of a completed invocation that passes
the caller's filters, else None."""


async def history_page(
    reads: StateReads,
    view: View,
    *,
    times: TimeFilter,
    below: tuple[int, str] | None,
    offset: int,
    limit: int,
) -> HistoryPage:
    """Read one page of the history: ``limit`` matches after ``offset`` others, newest first.

    Args:
        reads: The partitions' read side.
        view: Turns a stored status into its description, or None to leave it out.
        times: Creation and completion time bounds.
        below: Continue after this (completion ms, id) (a decoded cursor).
        offset: Matches to skip first.
        limit: Matches to return.

    Returns:
        The page, whether more matched, and the cursor of the next page.
    """
    newest = None if times.completed_before is None else times.completed_before - 1
    oldest = None if times.completed_after is None else times.completed_after + 1
    found: list[tuple[int, InvocationDescription]] = []
    skipped = 0
    chunk = max(16, min(offset + limit + 1, 500))
    rows = reads.history(newest_ms=newest, oldest_ms=oldest, below=below, chunk=chunk)
    async with aclosing(rows):
        async for inv in rows:
            d = view(inv.status, inv.journal_length)
            if d is None or not times.matches(d):
                continue
            if skipped < offset:
                skipped += 1
                continue
            found.append((inv.completed_ms, d))
            if len(found) > limit:
                break
    more = len(found) > limit
    page = found[:limit]
    cursor = encode_cursor(page[-1][0], page[-1][1].id) if more and page else None
    return HistoryPage([d for _, d in page], more, cursor)
