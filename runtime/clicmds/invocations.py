"""``rt invocations``: list running and completed ones; describe, cancel, kill, purge.

Like Restate's CLI, the destructive commands show what they will act on and
ask ``Are you sure?`` unless ``--yes`` is given (with stdin not a terminal and
no ``--yes`` they refuse). Errors go to stderr with exit code 1 (2 for a
malformed admin URL; 3 not found, 4 refused, 5 unreachable: docs/cli.md).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from runtime.admin.invocation_models import (
    InvocationDescription,
    InvocationList,
    InvocationWithJournal,
    JournalEntryView,
)
from runtime.clicmds._client import AdminClient, AdminClientError
from runtime.clicmds._common import (
    DEFAULT_ADMIN_URL,
    REFUSED,
    AdminUrl,
    JsonOpt,
    connect,
    fail,
    fail_admin,
    print_json,
    stdin_is_tty,
    stdout,
)

invocations_app = typer.Typer(
    help="List, describe, cancel, kill, purge, pause, resume and restart invocations.",
    no_args_is_help=True,
)

IdArg = Annotated[str, typer.Argument(metavar="ID", help="Invocation id (inv_...).")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Act without asking for confirmation.")]
BatchQueryArg = Annotated[
    str | None,
    typer.Argument(
        metavar="[ID|TARGET]",
        help="Invocation id (inv_...), or a target: every in-flight invocation of "
        "Service, Service/handler, Object/key or Object/key/handler. Leave out to act on "
        "what the filters match.",
    ),
]
ServiceOpt = Annotated[
    str | None, typer.Option("--service", help="Batch: invocations of this service.")
]
HandlerOpt = Annotated[
    str | None, typer.Option("--handler", help="Batch: invocations of this handler.")
]
KeyOpt = Annotated[
    str | None, typer.Option("--key", help="Batch: invocations of this object/workflow key.")
]
StatusOpt = Annotated[
    str | None,
    typer.Option(
        "--status",
        help="Batch: invocations in this status (running, suspended, backing-off, paused, "
        "pending, scheduled; completed for purge).",
    ),
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Batch: show what would be acted on, change nothing.")
]

_STATUS_STYLE = {
    "completed": "green",
    "running": "cyan",
    "suspended": "blue",
    "backing-off": "yellow",
    "paused": "yellow",
    "pending": "dim",
    "scheduled": "dim",
}


def description_table(d: InvocationDescription) -> Table:
    """A key/value table of an invocation, as ``restate invocations describe`` prints it.

    Args:
        d: The invocation.

    Returns:
        The rich table.
    """
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("ID:", Text(d.id))
    table.add_row("Target:", Text(d.target))
    table.add_row("Kind:", d.target_kind)
    table.add_row("Status:", Text(d.status, style=_STATUS_STYLE.get(d.status, "")))
    if d.cancel_requested and d.status != "completed":
        table.add_row("Cancellation:", Text("requested", style="yellow"))
    if d.completion_result is not None:
        kind = d.completion_kind or d.completion_result
        table.add_row("Result:", Text(kind, style=_KIND_STYLE.get(kind, "red")))
    if d.completion_failure is not None:
        table.add_row("Error:", Text(f"[{d.completion_failure_code}] {d.completion_failure}"))
    table.add_row(
        "Invoked by:", Text(d.invoked_by + (f" {d.invoked_by_id}" if d.invoked_by_id else ""))
    )
    if d.idempotency_key is not None:
        table.add_row("Idempotency key:", Text(d.idempotency_key))
    table.add_row("Created at:", d.created_at)
    table.add_row("Modified at:", d.modified_at)
    if d.scheduled_start_at is not None:
        table.add_row("Scheduled at:", d.scheduled_start_at)
    if d.completed_at is not None:
        table.add_row("Completed at:", d.completed_at)
    if d.next_retry_at is not None:
        table.add_row("Next retry at:", d.next_retry_at)
    table.add_row("Attempts:", f"{d.attempt} ({d.retry_count} failed)")
    if d.last_failure is not None:
        table.add_row("Last failure:", Text(f"[{d.last_failure_error_code}] {d.last_failure}"))
        where = _failure_place(d)
        if where:
            table.add_row("Failed at:", Text(where))
        if d.last_failure_stacktrace:
            table.add_row("Stack trace:", Text(d.last_failure_stacktrace.rstrip(), style="dim"))
    if d.restarted_from is not None:
        table.add_row("Restarted from:", Text(d.restarted_from))
    table.add_row("Journal size:", str(d.journal_size))
    return table


def _failure_place(d: InvocationDescription) -> str:
    """Where the last failed attempt stopped: its related command and journal position."""
    parts = []
    if d.last_failure_related_command_index is not None:
        name = d.last_failure_related_command_name
        parts.append(
            f"command {d.last_failure_related_command_index}" + (f" ({name})" if name else "")
        )
    if d.last_failure_journal_size is not None:
        parts.append(f"journal entry {d.last_failure_journal_size}")
    return ", ".join(parts)


def _describe(admin: AdminClient, invocation_id: str) -> InvocationDescription:
    try:
        return admin.describe_invocation(invocation_id)
    except AdminClientError as e:
        fail_admin(e)


def _confirm(yes: bool, what: str) -> None:
    if yes:
        return
    if not stdin_is_tty():
        fail(f"not going to {what} without confirmation, and stdin is not a terminal: pass --yes")
    if not typer.confirm("Are you sure you want to apply those changes?", default=False):
        fail("aborted: nothing changed")


def _terminate(admin_url: str, invocation_id: str, action: str, yes: bool) -> None:
    if not invocation_id.startswith("inv_"):
        _terminate_matching(admin_url, invocation_id, action, yes)
        return
    out = stdout()
    with connect(admin_url) as admin:
        d = _describe(admin, invocation_id)
        out.print(description_table(d))
        if action == "purge" and d.status != "completed":
            fail(
                f"invocation {invocation_id} is {d.status}: only completed ones can be purged",
                REFUSED,
            )
        if action != "purge" and d.status == "completed":
            fail(f"invocation {invocation_id} is already completed", REFUSED)
        _confirm(yes, action)
        try:
            code = admin.terminate_invocation(invocation_id, action)
        except AdminClientError as e:
            fail_admin(e)
    if action == "cancel":
        out.print("Cancelled 1 invocation (it ends with 409 cancelled after its compensations)")
    elif code == 202:
        out.print(f"Accepted: {action} of 1 invocation is still in progress")
    else:
        out.print(f"{'Killed' if action == 'kill' else 'Purged'} 1 invocation")


def _terminate_matching(admin_url: str, query: str, action: str, yes: bool) -> None:
    """Cancel or kill every in-flight invocation whose target is ``query`` or under it
    (``Service``, ``Service/handler``, ``Object/key``, ``Object/key/handler``), as
    Restate's CLI does."""
    if action == "purge":
        fail(f"purge takes an invocation id (inv_...), not a target: {query!r}")
    if not query or query.startswith("/") or query.endswith("/"):
        fail(f"invalid invocation id or target {query!r}: expected inv_... or Service[/...]")
    out = stdout()
    with connect(admin_url) as admin:
        try:
            found = admin.list_invocations({"service": query.split("/")[0], "limit": 10_000})
        except AdminClientError as e:
            fail_admin(e)
        matching = [
            d for d in found.invocations if d.target == query or d.target.startswith(query + "/")
        ]
        if not matching:
            fail(f"no invocation in flight matches {query!r}")
        out.print(_list_table(matching))
        if found.more:
            out.print("(only the oldest 10,000 of the service are considered)")
        _confirm(yes, f"{action} {len(matching)} invocation(s)")
        done = 0
        for d in matching:
            try:
                admin.terminate_invocation(d.id, action)
                done += 1
            except AdminClientError as e:
                if e.status != 409:  # 409: it completed on its own meanwhile
                    fail(f"{d.id}: {e.message} ({done} done before)")
    verb = "Cancelled" if action == "cancel" else "Killed"
    out.print(f"{verb} {done} invocation{'s' if done != 1 else ''}")


_COMMAND_PREFIX = "Command: "
_NOTIFICATION_PREFIX = "Notification: "


def _entry_detail(e: JournalEntryView) -> Text:
    """What an entry carries, on one line: callee, awakeable, due time, result, payload."""
    out = Text()

    def part(text: str, style: str = "") -> None:
        if out:
            out.append("  ")
        out.append(text, style=style)

    if e.invocation_id is not None:
        part(e.invocation_id, "cyan")
    if e.awakeable_id is not None:
        part(e.awakeable_id, "cyan")
    if e.due_at is not None:
        part(f"until {e.due_at}")
    if e.failure_code is not None or e.failure_message is not None:
        part(f"failed [{e.failure_code}] {e.failure_message or ''}".rstrip(), "red")
    elif e.value is not None:
        part(f"→ {e.value}" if e.result is not None else e.value)
    elif e.result is not None:
        part(f"→ {e.result}")
    if e.value_size is not None and e.value is None and e.failure_message is None:
        part(f"({e.value_size} bytes, not UTF-8)", "dim")
    if e.pending:
        part("waiting", "yellow")
    return out


def journal_timeline(d: InvocationWithJournal) -> Table:
    """The journal as a timeline, in journal order: each command on its line with its
    command index, each completion or signal indented and naming the command it
    answers, with what each carries.

    The same data the web UI's timeline shows: the entry index, the command index a
    completion answers, names, callee invocation ids, awakeable ids, due times,
    results and failures, and what the invocation still waits on.

    Args:
        d: The invocation with its journal.

    Returns:
        The rich table.
    """
    table = Table(box=None, header_style="bold", title="Journal", title_justify="left")
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("CMD", justify="right", no_wrap=True)
    table.add_column("ENTRY", no_wrap=True)
    table.add_column("DETAIL", overflow="fold")
    for e in d.journal:
        if e.entry_type.startswith(_NOTIFICATION_PREFIX):
            kind = e.entry_type.removeprefix(_NOTIFICATION_PREFIX)
            of = f" of command {e.command_index}" if e.command_index is not None else ""
            entry = Text(f"└ {kind}{of}", style="dim")
            cmd = ""
        else:
            kind = e.entry_type.removeprefix(_COMMAND_PREFIX)
            entry = Text(kind, style="bold")
            if e.name:
                entry.append(f" {e.name}")
            cmd = "" if e.command_index is None else str(e.command_index)
        table.add_row(str(e.index), cmd, entry, _entry_detail(e))
    return table


def _age(created_at: str, now: datetime) -> str:
    seconds = max(0, int((now - datetime.fromisoformat(created_at)).total_seconds()))
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _list_table(found: list[InvocationDescription]) -> Table:
    """One row per invocation; full ids (to paste into describe/cancel), compact otherwise."""
    table = Table(box=None, header_style="bold")
    table.add_column("ID", no_wrap=True, min_width=max(len(d.id) for d in found))
    table.add_column("TARGET", overflow="fold")
    table.add_column("STATUS", no_wrap=True)
    table.add_column("AGE", justify="right", no_wrap=True)
    table.add_column("ATTEMPT", justify="right", no_wrap=True)
    now = datetime.now(UTC)
    for d in found:
        status = Text(d.status, style=_STATUS_STYLE.get(d.status, ""))
        if d.cancel_requested:
            status.append(" (cancelling)", style="yellow")
        if d.last_failure_error_code is not None:
            status.append(f" [{d.last_failure_error_code}]", style="red")
        table.add_row(Text(d.id), Text(d.target), status, _age(d.created_at, now), str(d.attempt))
    return table


_COMPLETED_STATUSES = {
    "completed": None,
    "succeeded": "success",
    "failed": "failure",
    "killed": "killed",
    "cancelled": "cancelled",
}
"""``ls --status`` values that list the history, with the ``result`` each filters on."""

_KIND_STYLE = {"success": "green", "failure": "red", "killed": "red", "cancelled": "yellow"}


def _history_table(found: list[InvocationDescription]) -> Table:
    """One row per completed invocation: how it ended and when."""
    table = Table(box=None, header_style="bold")
    table.add_column("ID", no_wrap=True, min_width=max(len(d.id) for d in found))
    table.add_column("TARGET", overflow="fold")
    table.add_column("RESULT", no_wrap=True)
    table.add_column("COMPLETED", justify="right", no_wrap=True)
    table.add_column("ATTEMPT", justify="right", no_wrap=True)
    now = datetime.now(UTC)
    for d in found:
        kind = d.completion_kind or "completed"
        result = Text(kind, style=_KIND_STYLE.get(kind, ""))
        if d.completion_failure_code is not None and kind == "failure":
            result.append(f" [{d.completion_failure_code}]", style="red")
        ago = _age(d.completed_at, now) + " ago" if d.completed_at else ""
        table.add_row(Text(d.id), Text(d.target), result, ago, str(d.attempt))
    return table


def _list_history(
    admin: AdminClient, filters: dict[str, str | int | None], status: str | None
) -> InvocationList:
    query = {**filters, "status": "completed", "result": _COMPLETED_STATUSES.get(status or "")}
    try:
        return admin.list_invocations(query)
    except AdminClientError as e:
        fail_admin(e)


@invocations_app.command("ls")
def invocations_ls(
    service: Annotated[str | None, typer.Option(help="Only this service.")] = None,
    handler: Annotated[str | None, typer.Option(help="Only this handler.")] = None,
    key: Annotated[str | None, typer.Option(help="Only this object/workflow key.")] = None,
    status: Annotated[
        str | None,
        typer.Option(
            help="Only this status: running, suspended, backing-off, paused, pending, "
            "scheduled; or completed, succeeded, failed, killed, cancelled (the history, "
            "newest first)."
        ),  # fmt: skip
    ] = None,
    show_all: Annotated[
        bool,
        typer.Option(
            "--all", help="Also the completed invocations still retained (after those in flight)."
        ),
    ] = False,
    created_after: Annotated[
        str | None, typer.Option(help="Only those created after this time (ISO 8601).")
    ] = None,
    created_before: Annotated[
        str | None, typer.Option(help="Only those created before this time (ISO 8601).")
    ] = None,
    completed_after: Annotated[
        str | None, typer.Option(help="Only those completed after this time (history).")
    ] = None,
    completed_before: Annotated[
        str | None, typer.Option(help="Only those completed before this time (history).")
    ] = None,
    cursor: Annotated[
        str | None, typer.Option(help="Continue the history where a previous page ended.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 100,
    as_json: JsonOpt = False,
    admin_url: AdminUrl = DEFAULT_ADMIN_URL,
) -> None:
    """List the invocations that have not completed yet, oldest first; with --all or a
    completed --status also the completed ones still retained, newest first."""
    filters: dict[str, str | int | None] = {
        "service": service, "handler": handler, "key": key,
        "created_after": created_after, "created_before": created_before, "limit": limit,
    }  # fmt: skip
    history_only = status in _COMPLETED_STATUSES
    history_filters = {**filters, "completed_after": completed_after,
                       "completed_before": completed_before, "cursor": cursor}  # fmt: skip
    if (
        not history_only
        and not show_all
        and any(v is not None for v in (completed_after, completed_before, cursor))
    ):
        fail("--completed-after/--completed-before/--cursor list the history: add --all")
    with connect(admin_url) as admin:
        done = None
        if history_only or (show_all and status is None):
            done = _list_history(admin, history_filters, status)
        active = None
        if not history_only:
            try:
                active = admin.list_invocations({**filters, "status": status})
            except AdminClientError as e:
                fail_admin(e)
    if done is not None:
        _print_history(active, done, limit, as_json)
        return
    assert active is not None
    found = active
    if as_json:
        print_json(found)
        return
    out = stdout()
    if not found.invocations:
        out.print("No invocations in flight" + (" match" if any(filters.values()) else ""))
        return
    out.print(_list_table(found.invocations))
    if found.more:
        out.print(f"(showing the oldest {limit}; more match: raise --limit or filter)")


def _print_history(
    active: InvocationList | None, done: InvocationList, limit: int, as_json: bool
) -> None:
    """Print the in-flight invocations (``--all``), then the history page."""
    if as_json:
        if active is None:
            print_json(done)
        else:
            print_json({"active": active.model_dump(), "completed": done.model_dump()})
        return
    out = stdout()
    if active is not None:
        if active.invocations:
            out.print(_list_table(active.invocations))
            if active.more:
                out.print(f"(showing the oldest {limit} in flight; more match)")
        else:
            out.print("No invocations in flight")
        out.print()
    if not done.invocations:
        out.print("No completed invocations retained match")
        return
    out.print(_history_table(done.invocations))
    if done.more:
        out.print(f"(showing the newest {limit} completed; next page: --cursor {done.next_cursor})")


@invocations_app.command("describe")
def invocations_describe(
    invocation_id: IdArg,
    journal: Annotated[
        bool, typer.Option("--journal/--no-journal", help="Show the journal.")
    ] = True,
    as_json: JsonOpt = False,
    admin_url: AdminUrl = DEFAULT_ADMIN_URL,
) -> None:
    """Show an invocation's target, status, timestamps, failures and its journal as a
    timeline."""
    with connect(admin_url) as admin:
        try:
            d = (
                admin.invocation_journal(invocation_id)
                if journal
                else admin.describe_invocation(invocation_id)
            )
        except AdminClientError as e:
            fail_admin(e)
    if as_json:
        print_json(d)
        return
    out = stdout()
    out.print(description_table(d))
    if isinstance(d, InvocationWithJournal):
        out.print()
        out.print(journal_timeline(d))


@invocations_app.command("get", hidden=True)
def invocations_get(
    invocation_id: IdArg, as_json: JsonOpt = False, admin_url: AdminUrl = DEFAULT_ADMIN_URL
) -> None:
    """Alias of describe."""
    invocations_describe(invocation_id, True, as_json, admin_url)


@invocations_app.command("cancel")
def invocations_cancel(
    invocation_id: BatchQueryArg = None,
    kill: Annotated[bool, typer.Option("--kill", help="Kill instead of cancelling.")] = False,
    service: ServiceOpt = None,
    handler: HandlerOpt = None,
    key: KeyOpt = None,
    status: StatusOpt = None,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    admin_url: AdminUrl = DEFAULT_ADMIN_URL,
) -> None:
    """Cancel: the handler gets TerminalError 409 at its next await and may compensate."""
    from runtime.clicmds.invocation_control import batch_filters, dispatch

    action = "kill" if kill else "cancel"
    filters = batch_filters(service, handler, key, status)
    dispatch(admin_url, action, invocation_id, filters, dry_run=dry_run, yes=yes)


@invocations_app.command("kill")
def invocations_kill(
    invocation_id: BatchQueryArg = None,
    service: ServiceOpt = None,
    handler: HandlerOpt = None,
    key: KeyOpt = None,
    status: StatusOpt = None,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    admin_url: AdminUrl = DEFAULT_ADMIN_URL,
) -> None:
    """Kill: end at once with 409 killed, no compensation; its callees are killed too."""
    from runtime.clicmds.invocation_control import batch_filters, dispatch

    filters = batch_filters(service, handler, key, status)
    dispatch(admin_url, "kill", invocation_id, filters, dry_run=dry_run, yes=yes)


@invocations_app.command("purge")
def invocations_purge(
    invocation_id: Annotated[
        str | None,
        typer.Argument(
            metavar="[ID]",
            help="Invocation id (inv_...). Leave out to purge the completed invocations "
            "the filters match.",
        ),
    ] = None,
    service: ServiceOpt = None,
    handler: HandlerOpt = None,
    key: KeyOpt = None,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    admin_url: AdminUrl = DEFAULT_ADMIN_URL,
) -> None:
    """Purge a completed invocation: its status, result, journal and idempotency entry."""
    from runtime.clicmds.invocation_control import batch_filters, dispatch

    if invocation_id is not None and not invocation_id.startswith("inv_"):
        fail(f"purge takes an invocation id (inv_...), not a target: {invocation_id!r}")
    filters = batch_filters(service, handler, key, None)
    dispatch(admin_url, "purge", invocation_id, filters, dry_run=dry_run, yes=yes)
