"""``rt services``: list and describe the services the admin API knows."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from runtime.admin.metadata import IN_PROCESS_DEPLOYMENT_ID, ListServicesResponse
from runtime.clicmds._client import AdminClientError
from runtime.clicmds._common import (
    DEFAULT_ADMIN_URL,
    AdminUrl,
    JsonOpt,
    connect,
    fail_admin,
    print_json,
    stdout,
)
from runtime.invoker.builtins import RESERVED_PREFIX

services_app = typer.Typer(help="List and describe registered services.", no_args_is_help=True)


def deployment_type(
    deployment_id: str, endpoints: dict[str, str] | None = None, service: str = ""
) -> str:
    """How a deployment runs, as shown in the ``DEPLOYMENT-TYPE`` column.

    Args:
        deployment_id: The service's ``deployment_id``.
        endpoints: The URL of each registered deployment, by id.
        service: The service's name (rt's own services are ``built-in``).

    Returns:
        ``built-in`` for rt's own services (``rt.Kafka``), ``in-process`` for services
        running inside the rt node, ``http`` for a registered SDK endpoint, else ``unknown``.
    """
    if service.startswith(RESERVED_PREFIX) and deployment_id == IN_PROCESS_DEPLOYMENT_ID:
        return "built-in"
    if deployment_id == IN_PROCESS_DEPLOYMENT_ID:
        return "in-process"
    return "http" if deployment_id in (endpoints or {}) else "unknown"


def _list(admin_url: str, as_json: bool) -> None:
    with connect(admin_url) as admin:
        try:
            services = admin.list_services()
        except AdminClientError as e:
            fail_admin(e)
        try:
            endpoints = {d["id"]: d.get("uri") or "" for d in admin.list_deployments()}
        except AdminClientError:
            endpoints = {}  # an admin API without deployments: in-process services only
    if as_json:
        print_json(ListServicesResponse(services=services))
        return
    out = stdout()
    if not services:
        out.print("No services are registered. Start `rt dev app.py` to serve your services.")
        return
    table = Table(box=None, header_style="bold")
    for column in ("NAME", "REVISION", "FLAVOR", "DEPLOYMENT-TYPE", "DEPLOYMENT-ID", "ENDPOINT"):
        table.add_column(column, no_wrap=True)
    for svc in services:
        table.add_row(
            Text(svc.name),
            str(svc.revision),
            svc.ty.value,
            deployment_type(svc.deployment_id, endpoints, svc.name),
            Text(svc.deployment_id),
            Text(endpoints.get(svc.deployment_id) or "-"),
        )
    out.print(table)


@services_app.command("ls")
def services_ls(as_json: JsonOpt = False, admin_url: AdminUrl = DEFAULT_ADMIN_URL) -> None:
    """List registered services."""
    _list(admin_url, as_json)


@services_app.command("list", hidden=True)
def services_list(as_json: JsonOpt = False, admin_url: AdminUrl = DEFAULT_ADMIN_URL) -> None:
    """List registered services (alias of ``ls``)."""
    _list(admin_url, as_json)


@services_app.command("describe")
def services_describe(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Service name.")],
    as_json: JsonOpt = False,
    admin_url: AdminUrl = DEFAULT_ADMIN_URL,
) -> None:
    """Show a service's configuration and handlers."""
    with connect(admin_url) as admin:
        try:
            svc = admin.get_service(name)
        except AdminClientError as e:
            fail_admin(e)
    if as_json:
        print_json(svc)
        return

    def default(value: str | None) -> Text:
        return Text(value if value is not None else "(default)")

    info = Table.grid(padding=(0, 2))
    info.add_column(style="bold", no_wrap=True)
    info.add_column()
    info.add_row("Name:", Text(svc.name))
    info.add_row("Service type:", svc.ty.value)
    info.add_row("Revision:", str(svc.revision))
    info.add_row("Public:", "yes" if svc.public else "no")
    info.add_row("Deployment ID:", Text(svc.deployment_id))
    info.add_row("Deployment type:", deployment_type(svc.deployment_id, service=svc.name))
    info.add_row("Idempotency retention:", default(svc.idempotency_retention))
    info.add_row("Journal retention:", default(svc.journal_retention))
    if svc.workflow_completion_retention is not None:
        info.add_row("Workflow retention:", Text(svc.workflow_completion_retention))
    info.add_row("Inactivity timeout:", default(svc.inactivity_timeout))
    info.add_row("Abort timeout:", default(svc.abort_timeout))
    if svc.documentation:
        info.add_row("Documentation:", Text(svc.documentation))

    handlers = Table(box=None, header_style="bold")
    for column in ("HANDLER", "TYPE", "INPUT", "OUTPUT", "PUBLIC"):
        handlers.add_column(column)
    for h in svc.handlers:
        handlers.add_row(
            Text(h.name),
            h.ty.value if h.ty is not None else "-",
            Text(h.input_description),
            Text(h.output_description),
            "yes" if h.public else "no",
        )

    out = stdout()
    out.print("📜 [bold]Service Information[/]")
    out.print(info)
    out.print()
    out.print("🔌 [bold]Handlers[/]")
    if svc.handlers:
        out.print(handlers)
    else:
        out.print("(no handlers)")
