"""``rt cron``: add, list and remove recurring invocations (rt extension; ADR 0006)."""

from __future__ import annotations

import json
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.table import Table
from rich.text import Text

from runtime.admin.cron_models import CronJobResponse, ListCronJobsResponse
from runtime.clicmds._client import AdminClient, AdminClientError, ErrorKind
from runtime.clicmds._common import (
    DEFAULT_ADMIN_URL,
    USAGE_ERROR,
    AdminUrl,
    JsonOpt,
    connect,
    fail,
    fail_admin,
    print_json,
    stdout,
)

cron_app = typer.Typer(help="Schedule recurring invocations (cron).", no_args_is_help=True)


class CronClient:
    """The ``/cron`` routes of the admin API, on an :class:`AdminClient`."""

    def __init__(self, admin: AdminClient) -> None:
        self._admin = admin

    def add(self, body: dict[str, Any]) -> CronJobResponse:
        response = self._admin._request("POST", "/cron", body)  # noqa: SLF001 - same package
        return _parse(CronJobResponse, response.content)

    def ls(self) -> list[CronJobResponse]:
        response = self._admin._request("GET", "/cron")  # noqa: SLF001 - same package
        return _parse(ListCronJobsResponse, response.content).jobs

    def rm(self, job_id: str) -> CronJobResponse:
        path = f"/cron/{job_id}"
        response = self._admin._request("DELETE", path)  # noqa: SLF001 - same package
        return _parse(CronJobResponse, response.content)


_M = TypeVar("_M", CronJobResponse, ListCronJobsResponse)


def _parse(model: type[_M], raw: bytes) -> _M:
    try:
        return model.model_validate_json(raw)
    except ValidationError as e:
        raise AdminClientError(
            f"unexpected answer from the rt admin API: {e}", kind=ErrorKind.FAILED
        ) from e


@cron_app.command("add")
def cron_add(
    target: Annotated[
        str,
        typer.Argument(
            help="Service/handler, Object/key/handler or Workflow/key-{tick}/handler "
            "({tick}: the tick's UTC time)."
        ),
    ],
    schedule: Annotated[
        str | None,
        typer.Option("--schedule", "-s", help="Cron expression in UTC, e.g. '*/5 * * * *'."),
    ] = None,
    every: Annotated[
        str | None, typer.Option("--every", "-e", help="Fixed interval, e.g. 30s, PT1M.")
    ] = None,
    job_id: Annotated[str | None, typer.Option("--id", help="Job id (drawn if absent).")] = None,
    body: Annotated[str | None, typer.Option("--body", help="JSON input of each run.")] = None,
    admin_url: AdminUrl = DEFAULT_ADMIN_URL,
) -> None:
    """Schedule TARGET to be invoked on a cron schedule or at a fixed interval."""
    if (schedule is None) == (every is None):
        fail("give exactly one of --schedule or --every", USAGE_ERROR)
    request: dict[str, Any] = {"target": target}
    if schedule is not None:
        request["schedule"] = schedule
    if every is not None:
        request["every"] = every
    if job_id is not None:
        request["id"] = job_id
    if body is not None:
        try:
            request["body"] = json.loads(body)
        except json.JSONDecodeError as e:
            fail(f"--body is not valid JSON: {e}", USAGE_ERROR)
    with connect(admin_url) as admin:
        try:
            job = CronClient(admin).add(request)
        except AdminClientError as e:
            fail_admin(e)
    stdout().print(Text(f"{job.id}  next run {job.next_run or '(pending)'}"))


@cron_app.command("ls")
def cron_ls(as_json: JsonOpt = False, admin_url: AdminUrl = DEFAULT_ADMIN_URL) -> None:
    """List cron jobs."""
    with connect(admin_url) as admin:
        try:
            jobs = CronClient(admin).ls()
        except AdminClientError as e:
            fail_admin(e)
    if as_json:
        print_json(ListCronJobsResponse(jobs=jobs))
        return
    out = stdout()
    if not jobs:
        out.print("No cron jobs. Add one with `rt cron add TARGET --every 1m`.")
        return
    table = Table(box=None, header_style="bold")
    for column in ("ID", "TARGET", "SCHEDULE", "NEXT RUN", "LAST RUN", "LAST INVOCATION"):
        table.add_column(column, no_wrap=True)
    for job in jobs:
        when = job.schedule if job.schedule is not None else f"every {job.every_ms} ms"
        table.add_row(
            Text(job.id),
            Text(job.target),
            Text(when),
            job.next_run or "-",
            job.last_run or "-",
            Text(job.last_invocation_id or "-"),
        )
    out.print(table)


@cron_app.command("rm")
def cron_rm(
    job_id: Annotated[str, typer.Argument(metavar="ID", help="The job id.")],
    admin_url: AdminUrl = DEFAULT_ADMIN_URL,
) -> None:
    """Delete a cron job: it does not run again."""
    with connect(admin_url) as admin:
        try:
            CronClient(admin).rm(job_id)
        except AdminClientError as e:
            fail_admin(e)
    stdout().print(Text(f"deleted {job_id}"))
