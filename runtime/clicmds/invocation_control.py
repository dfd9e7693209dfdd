"""``rt invocations pause|resume|restart`` and the batch form of the per-invocation actions.

One invocation: ``rt invocations pause ID``, ``rt invocations resume ID
[--deployment D]``, ``rt invocations restart ID [--from N]`` (prints the new id).

Many: ``rt invocations cancel|kill|pause|resume|purge`` with filters instead of an id
(``--service S --handler H --key K --status paused``). The matching invocations are
listed first (``GET /invocations``, every page), those the action applies to are
shown, ``--dry-run`` stops there, otherwise it asks for confirmation unless ``--yes``
and then calls the per-invocation endpoint for each, with a progress bar. An
invocation that changed meanwhile (completed, or no longer paused) is counted as
skipped, not as a failure; any other error is reported at the end (exit code 1).
Purging lists completed invocations (``status=completed``), which needs an admin API
that lists them.

Owns these commands and the batch loop; the listing and description tables are
:mod:`runtime.clicmds.invocations`'.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from runtime.admin.invocation_models import InvocationDescription
from runtime.clicmds._client import AdminClient, AdminClientError, ErrorKind
from runtime.clicmds._common import (
    DEFAULT_ADMIN_URL,
    ERROR,
    USAGE_ERROR,
    AdminUrl,
    connect,
    fail,
    fail_admin,
    stdout,
)
from runtime.clicmds.invocations import (
    BatchQueryArg,
    DryRunOpt,
    HandlerOpt,
    IdArg,
    KeyOpt,
    ServiceOpt,
    StatusOpt,
    YesOpt,
    invocations_app,
)
from runtime.clicmds.invocations import _confirm as confirm
from runtime.clicmds.invocations import _list_table as list_table
from runtime.clicmds.invocations import _terminate as terminate

BATCH_PAGE = 1_000
"""Invocations asked for per ``GET /invocations`` page while collecting a batch."""

SHOWN_ROWS = 50
"""Rows of the table shown before a batch acts (the rest are counted)."""

APPLIES_TO: Mapping[str, frozenset[str]] = {
    "cancel": frozenset({"scheduled", "pending", "running", "suspended", "backing-off", "paused"}),
    "kill": frozenset({"scheduled", "pending", "running", "suspended", "backing-off", "paused"}),
    "pause": frozenset({"running", "suspended", "backing-off"}),
    "resume": frozenset({"paused", "suspended", "backing-off"}),
    "purge": frozenset({"completed"}),
}
"""The statuses (admin API names) each batch action applies to."""

_DONE = {
    "cancel": "Cancelled",
    "kill": "Killed",
    "pause": "Paused",
    "resume": "Resumed",
    "purge": "Purged",
}

_CHANGED_MEANWHILE = (404, 409, 425)
"""Answers meaning the invocation is no longer in a status the action applies to."""

DeploymentOpt = Annotated[
    str | None,
    typer.Option(
        "--deployment",
        help="Run on this deployment from now on: keep (default), latest, or a "
        "deployment id (paused or suspended invocations pinned to a deployment).",
    ),
]


def batch_filters(
    service: str | None, handler: str | None, key: str | None, status: str | None
) -> dict[str, str | None]:
    """The ``GET /invocations`` filters of a batch."""
    return {"service": service, "handler": handler, "key": key, "status": status}


def collect(
    admin: AdminClient, action: str, filters: Mapping[str, str | None]
) -> list[InvocationDescription]:
    """Every invocation matching ``filters`` that ``action`` applies to, oldest first.

    Raises:
        AdminClientError: If a listing fails.
    """
    query: dict[str, str | int | None] = dict(filters)
    if action == "purge" and query.get("status") is None:
        query["status"] = "completed"
    found: list[InvocationDescription] = []
    offset = 0
    while True:
        page = admin.list_invocations({**query, "limit": BATCH_PAGE, "offset": offset})
        found.extend(page.invocations)
        if not page.more or not page.invocations:
            break
        offset += len(page.invocations)
    applies = APPLIES_TO[action]
    seen: set[str] = set()
    out = []
    for d in found:  # pages may overlap if invocations come and go while listing
        if d.status in applies and d.id not in seen:
            seen.add(d.id)
            out.append(d)
    return out


def act(admin: AdminClient, action: str, invocation_id: str, deployment: str | None) -> None:
    """Apply ``action`` to one invocation. Raises AdminClientError."""
    if action == "pause":
        admin.pause_invocation(invocation_id)
    elif action == "resume":
        admin.resume_invocation(invocation_id, deployment)
    else:
        admin.terminate_invocation(invocation_id, action)


def run_batch(
    admin_url: str,
    action: str,
    filters: Mapping[str, str | None],
    *,
    dry_run: bool,
    yes: bool,
    deployment: str | None = None,
    target: str | None = None,
) -> None:
    """List, show, confirm, then apply ``action`` to every matching invocation (under
    ``target``, ``Service[/key][/handler]``, when given)."""
    if not any(filters.values()):
        fail(
            f"{action}: give an invocation id, a target, or at least one filter "
            "(--service, --handler, --key, --status)",
            USAGE_ERROR,
        )
    status = filters.get("status")
    if status is not None and status not in APPLIES_TO[action]:
        fail(
            f"{action} does not apply to {status} invocations: it applies to "
            f"{', '.join(sorted(APPLIES_TO[action]))}",
            USAGE_ERROR,
        )
    out = stdout()
    with connect(admin_url) as admin:
        try:
            matching = collect(admin, action, filters)
            if target is not None:
                matching = [
                    d for d in matching if d.target == target or d.target.startswith(target + "/")
                ]
        except AdminClientError as e:
            if action == "purge" and e.status == 400:
                fail(
                    "this admin API does not list completed invocations: purge them by id "
                    f"({e.message})"
                )
            fail_admin(e)
        if not matching:
            out.print(f"No invocations to {action} match")
            return
        out.print(list_table(matching[:SHOWN_ROWS]))
        if len(matching) > SHOWN_ROWS:
            out.print(f"... and {len(matching) - SHOWN_ROWS} more")
        n = len(matching)
        noun = f"{n} invocation{'s' if n != 1 else ''}"
        if dry_run:
            out.print(f"Dry run: would {action} {noun}; nothing changed")
            return
        confirm(yes, f"{action} {noun}")
        done, skipped, errors = 0, 0, []
        with Progress(
            TextColumn(f"{action.capitalize()}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=out,
            transient=True,
        ) as progress:
            task = progress.add_task(action, total=n)
            for d in matching:
                try:
                    act(admin, action, d.id, deployment)
                    done += 1
                except AdminClientError as e:
                    if e.kind is ErrorKind.UNREACHABLE:
                        fail(f"{d.id}: {e.message} ({done} done before)")
                    if e.status in _CHANGED_MEANWHILE:
                        skipped += 1
                    else:
                        errors.append(f"{d.id}: {e.message}")
                progress.advance(task)
    summary = f"{_DONE[action]} {done} invocation{'s' if done != 1 else ''}"
    if skipped:
        summary += f" ({skipped} skipped: changed meanwhile)"
    out.print(summary)
    if errors:
        fail(f"{len(errors)} failed:\n  " + "\n  ".join(errors), ERROR)


def _one(admin_url: str, action: str, invocation_id: str, deployment: str | None) -> None:
    out = stdout()
    with connect(admin_url) as admin:
        try:
            if action == "pause":
                code = admin.pause_invocation(invocation_id)
                out.print(
                    f"Invocation {invocation_id} is already paused"
                    if code == 200
                    else f"Paused invocation {invocation_id}"
                )
            else:
                admin.resume_invocation(invocation_id, deployment)
                out.print(f"Resumed invocation {invocation_id}")
        except AdminClientError as e:
            fail_admin(e)


def dispatch(
    admin_url: str,
    action: str,
    query: str | None,
    filters: Mapping[str, str | None],
    *,
    dry_run: bool,
    yes: bool,
    deployment: str | None = None,
) -> None:
    """One invocation by id, every one under a target, or a filtered batch."""
    if query is None:
        run_batch(admin_url, action, filters, dry_run=dry_run, yes=yes, deployment=deployment)
        return
    if any(filters.values()) or dry_run:
        fail("give either an invocation id/target or filters (and --dry-run), not both",
             USAGE_ERROR)  # fmt: skip
    if action in ("pause", "resume"):
        if query.startswith("inv_"):
            _one(admin_url, action, query, deployment)
            return
        if not query or query.startswith("/") or query.endswith("/"):
            fail(f"invalid invocation id or target {query!r}: expected inv_... or Service[/...]")
        target_filters = batch_filters(query.split("/")[0], None, None, None)
        run_batch(
            admin_url, action, target_filters, dry_run=False, yes=yes, deployment=deployment,
            target=query,
        )  # fmt: skip
        return
    terminate(admin_url, query, action, yes)


@invocations_app.command("pause")
def invocations_pause(
    invocation_id: BatchQueryArg = None,
    service: ServiceOpt = None,
    handler: HandlerOpt = None,
    key: KeyOpt = None,
    status: StatusOpt = None,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    admin_url: AdminUrl = DEFAULT_ADMIN_URL,
) -> None:
    """Pause: run no attempt until resumed (an object's key stays locked meanwhile)."""
    dispatch(
        admin_url,
        "pause",
        invocation_id,
        batch_filters(service, handler, key, status),
        dry_run=dry_run,
        yes=yes,
    )


@invocations_app.command("resume")
def invocations_resume(
    invocation_id: BatchQueryArg = None,
    deployment: DeploymentOpt = None,
    service: ServiceOpt = None,
    handler: HandlerOpt = None,
    key: KeyOpt = None,
    status: StatusOpt = None,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    admin_url: AdminUrl = DEFAULT_ADMIN_URL,
) -> None:
    """Resume: a paused or suspended invocation runs again from its journal; a
    backing-off one retries now."""
    dispatch(
        admin_url,
        "resume",
        invocation_id,
        batch_filters(service, handler, key, status),
        dry_run=dry_run,
        yes=yes,
        deployment=deployment,
    )


@invocations_app.command("restart")
def invocations_restart(
    invocation_id: IdArg,
    from_index: Annotated[
        int | None,
        typer.Option(
            "--from",
            min=0,
            help="Keep the journal up to this entry index (with the completions of its "
            "commands): the new invocation replays it. Default: only the input.",
        ),
    ] = None,
    deployment: Annotated[
        str | None,
        typer.Option(
            "--deployment",
            help="With --from: replay on keep (the old pin), latest (default) or a deployment id.",
        ),
    ] = None,
    admin_url: AdminUrl = DEFAULT_ADMIN_URL,
) -> None:
    """Restart a completed invocation as a new one (same input, a new id); prints the id."""
    with connect(admin_url) as admin:
        try:
            new_id = admin.restart_invocation(invocation_id, from_index, deployment)
        except AdminClientError as e:
            fail_admin(e)
    stdout().print(f"Restarted {invocation_id} as {new_id}", highlight=False)
