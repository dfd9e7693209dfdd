"""The admin API's view of one invocation (shared by the server and the CLI client)."""

from __future__ import annotations

from pydantic import BaseModel


class InvocationDescription(BaseModel):
    """One invocation, with the column names of Restate's ``sys_invocation``."""

    id: str
    target: str
    """``Service/handler`` or ``Object/key/handler``."""
    target_service_name: str
    target_service_key: str | None
    target_handler_name: str
    target_kind: str
    """``service`` | ``exclusive`` | ``shared`` | ``workflow``."""
    status: str
    """``scheduled`` | ``pending`` | ``running`` | ``suspended`` | ``backing-off`` |
    ``paused`` | ``completed``."""
    invoked_by: str
    invoked_by_id: str | None
    idempotency_key: str | None
    created_at: str
    modified_at: str
    completed_at: str | None
    scheduled_start_at: str | None
    next_retry_at: str | None
    retry_count: int
    attempt: int
    journal_size: int
    cancel_requested: bool
    last_failure: str | None
    last_failure_error_code: int | None
    completion_result: str | None
    """``success`` | ``failure`` once completed."""
    completion_failure: str | None
    completion_failure_code: int | None
    completion_kind: str | None = None
    """How it ended, once completed: ``success`` | ``failure`` | ``killed`` |
    ``cancelled`` (``completion_result`` is Restate's ``success`` | ``failure``, where
    ``failure`` includes killed and cancelled)."""
    pinned_deployment_id: str | None = None
    """The deployment every attempt runs on, once its first attempt journaled something
    (Restate's ``pinned_deployment_id``); None for in-process services."""
    last_failure_stacktrace: str | None = None
    """The stack trace of the last failed attempt, when its handler raised (rt)."""
    last_failure_related_command_index: int | None = None
    """The command the last failure relates to, when known (Restate's column)."""
    last_failure_related_command_name: str | None = None
    """That command's name, when it has one (Restate's column)."""
    last_failure_journal_size: int | None = None
    """Entries the journal had when the last attempt failed: the failure happened after
    them, at the entry with this index (rt)."""
    restarted_from: str | None = None
    """The completed invocation this one restarts (``restart-as-new``), if any."""


class InvocationList(BaseModel):
    """``GET /invocations``: invocations not completed yet, oldest first; with
    ``status=completed`` the completed ones still retained, newest first."""

    invocations: list[InvocationDescription]
    more: bool
    """True when more matched than ``offset + limit``."""
    total: int | None = None
    """How many matched in all (the page is ``invocations``); not counted for completed
    invocations (null)."""
    next_cursor: str | None = None
    """Completed invocations: pass as ``cursor`` for the page after this one (null when
    nothing more matched)."""


class JournalEntryView(BaseModel):
    """One journal entry as ``GET /invocations/{id}?journal=true`` shows it."""

    index: int
    """Position in the journal."""
    entry_type: str
    """``Command: Run``, ``Command: Call``, ``Notification: Completion``, ... (as Restate's
    ``sys_journal.entry_type``)."""
    command_index: int | None
    """For a command its index; for a completion the command it completes."""
    name: str | None
    """What the entry names: run/sleep/promise name, state key, call target, result."""
    invocation_id: str | None = None
    """The other invocation a Call, Send, AttachInvocation, GetInvocationOutput or
    CancelInvocation command names (the callee of a call)."""
    awakeable_id: str | None = None
    """The awakeable an Awakeable or CompleteAwakeable command names."""
    due_at: str | None = None
    """When a Sleep wakes up, or a delayed Send starts (RFC 3339, UTC)."""
    result: str | None = None
    """``value`` | ``void`` | ``failure`` | ``state_keys``: what a completion, an Output or a
    completing command (CompletePromise, CompleteAwakeable) carries."""
    failure_code: int | None = None
    failure_message: str | None = None
    value: str | None = None
    """The entry's payload as UTF-8 text (input, output, call parameter, state value, run
    result, ...), cut at ``VALUE_PREVIEW_CHARS``; ``null`` when absent or not UTF-8."""
    value_size: int | None = None
    """The payload's size in bytes (``null`` when the entry has none)."""
    pending: bool = False
    """A command that awaits a completion not journaled yet: what the invocation waits on
    (in a completed invocation: a completion that never came)."""


class InvocationWithJournal(InvocationDescription):
    """An invocation with its journal entries."""

    journal: list[JournalEntryView]
