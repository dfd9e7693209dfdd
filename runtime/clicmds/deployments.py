"""``rt deployments register|ls|describe|rm|keygen``: services served by SDK endpoints.

``register`` runs the endpoint's discovery first without registering (a dry run),
shows what would be registered, asks for confirmation unless ``--yes`` (and refuses
without ``--yes`` when stdin is not a terminal), then registers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from runtime.clicmds._client import AdminClient, AdminClientError
from runtime.clicmds._common import (
    DEFAULT_ADMIN_URL,
    USAGE_ERROR,
    AdminUrl,
    connect,
    fail,
    stdin_is_tty,
    stdout,
)

deployments_app = typer.Typer(
    help="Register, list, describe and remove deployments (SDK endpoints).",
    no_args_is_help=True,
)

REGISTER_TIMEOUT_S = 60.0
"""Discovery of the endpoint happens inside the request."""


def _headers(values: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        name, sep, text = value.partition(":")
        if not sep or not name.strip():
            fail(f"bad --header {value!r}: expected NAME:VALUE", USAGE_ERROR)
        out[name.strip()] = text.strip()
    return out


def _services_table(services: list[dict[str, Any]]) -> Table:
    table = Table(box=None, header_style="bold")
    for column in ("SERVICE", "TYPE", "REV", "HANDLERS"):
        table.add_column(column)
    for svc in services:
        handlers = ", ".join(
            h["name"] + (f" ({h['ty']})" if h.get("ty") else "") for h in svc.get("handlers", [])
        )
        table.add_row(
            Text(svc["name"]), Text(str(svc["ty"])), Text(str(svc["revision"])), Text(handlers)
        )
    return table


@deployments_app.command("register")
def deployments_register(
    uri: Annotated[str, typer.Argument(metavar="URL", help="The SDK endpoint, http://host:port")],
    use_http_11: Annotated[
        bool, typer.Option("--use-http1.1", help="Discover and invoke over HTTP/1.1.")
    ] = False,
    header: Annotated[
        list[str] | None,
        typer.Option("--header", help="NAME:VALUE sent with every request (repeatable)."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Update a deployment at the same URL in place.")
    ] = False,
    breaking: Annotated[
        bool, typer.Option("--breaking", help="Accept incompatible service/handler changes.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Register without asking.")] = False,
    admin_url: AdminUrl = DEFAULT_ADMIN_URL,
) -> None:
    """Register the services an SDK endpoint serves (asks first unless --yes)."""
    body: dict[str, Any] = {
        "uri": uri,
        "use_http_11": use_http_11,
        "additional_headers": _headers(header or []),
        "force": force,
        "breaking": breaking,
    }
    connect(admin_url).close()  # a malformed --admin-url is a usage error
    out = stdout()
    with AdminClient(admin_url, timeout=REGISTER_TIMEOUT_S) as admin:
        try:
            _, preview = admin.register_deployment({**body, "dry_run": True})
        except AdminClientError as e:
            fail(e.message)
        out.print(f"Endpoint {uri} serves:")
        out.print(_services_table(preview["services"]))
        if not yes:
            if not stdin_is_tty():
                fail(
                    "not registering without confirmation, and stdin is not a terminal to "
                    "ask on: pass --yes",
                )
            if not typer.confirm("Register these services?", default=True):
                fail("not registered")
        try:
            status, dep = admin.register_deployment(body)
        except AdminClientError as e:
            fail(e.message)
    if status == 200:
        out.print(f"Deployment already exists with id {dep['id']}. No changes were made.")
        return
    out.print(f"Registered deployment {dep['id']}")
    out.print(_services_table(dep["services"]))


@deployments_app.command("ls")
def deployments_ls(admin_url: AdminUrl = DEFAULT_ADMIN_URL) -> None:
    """List deployments."""
    with connect(admin_url) as admin:
        try:
            deps = admin.list_deployments()
        except AdminClientError as e:
            fail(e.message)
    out = stdout()
    if not deps:
        out.print("No deployments. Register one with `rt deployments register URL`.")
        return
    table = Table(box=None, header_style="bold")
    for column in ("ID", "ENDPOINT", "TYPE", "CREATED-AT", "SERVICES"):
        table.add_column(column, no_wrap=column != "SERVICES")
    for d in deps:
        services = ", ".join(f"{s['name']}@{s['revision']}" for s in d["services"])
        table.add_row(
            Text(d["id"]),
            Text(d.get("uri") or "in-process"),
            Text(f"{d['protocol_type']} {d['http_version']}"),
            Text(d["created_at"]),
            Text(services),
        )
    out.print(table)


@deployments_app.command("describe")
def deployments_describe(
    deployment_id: Annotated[str, typer.Argument(metavar="ID", help="The deployment id (dp_...).")],
    admin_url: AdminUrl = DEFAULT_ADMIN_URL,
) -> None:
    """Show a deployment: endpoint, protocol, services, invocations still pinned to it."""
    with connect(admin_url) as admin:
        try:
            d = admin.get_deployment(deployment_id)
        except AdminClientError as e:
            fail(e.message)
    out = stdout()
    pinned = d.get("pinned_invocations")
    rows = [
        ("ID", d["id"]),
        ("Endpoint", d.get("uri") or "in-process"),
        ("Protocol", f"{d['protocol_type']} over {d['http_version']}"),
        (
            "Protocol versions",
            f"{d['min_protocol_version']}..{d['max_protocol_version']}"
            + (f" (using {d['protocol_version']})" if d.get("protocol_version") else ""),
        ),
        ("SDK", d.get("sdk_version") or "-"),
        ("Created at", d["created_at"]),
        ("Headers", ", ".join(sorted(d.get("additional_headers", {}))) or "-"),
        ("Pinned invocations", "unknown" if pinned is None else str(pinned)),
    ]
    for name, value in rows:
        out.print(Text(f"{name + ':':<20}") + Text(value))
    table = Table(box=None, header_style="bold")
    table.add_column("SERVICE")
    table.add_column("REV")
    for s in d["services"]:
        table.add_row(Text(s["name"]), Text(str(s["revision"])))
    out.print(table)


@deployments_app.command("rm")
def deployments_rm(
    deployment_id: Annotated[str, typer.Argument(metavar="ID", help="The deployment id (dp_...).")],
    force: Annotated[
        bool, typer.Option("--force", help="Remove even while invocations are pinned to it.")
    ] = False,
    admin_url: AdminUrl = DEFAULT_ADMIN_URL,
) -> None:
    """Remove a deployment (refused while invocations are pinned to it, unless --force)."""
    with connect(admin_url) as admin:
        try:
            admin.delete_deployment(deployment_id, force=force)
        except AdminClientError as e:
            fail(e.message)
    stdout().print(f"Removed deployment {deployment_id}")


@deployments_app.command("keygen")
def deployments_keygen(
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Where to write the private key (PKCS#8 PEM, mode 0600)."),
    ] = Path("rt-identity.pem"),
) -> None:
    """Make a request identity key: rt signs its requests to SDK endpoints with it.

    Give rt the private key file (RT_REQUEST_IDENTITY_PRIVATE_KEY_PEM_FILE) and the
    endpoints the printed ``publickeyv1_...`` id (``identity_keys`` of ``sdk.app`` or of
    a Restate SDK's endpoint); they then refuse requests not signed by it.
    """
    from sdk.protocol import IdentitySigner

    if out.exists():
        fail(f"{out} exists; remove it or name another file with --out", USAGE_ERROR)
    signer = IdentitySigner.generate()
    try:
        with os.fdopen(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
            f.write(signer.private_pem())
    except OSError as e:
        fail(f"cannot write {out}: {e.strerror}", USAGE_ERROR)
    stdout().print(f"Private key: {out}\nIdentity key: {signer.key_id}")
