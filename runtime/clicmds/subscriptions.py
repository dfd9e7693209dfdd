"""``rt subscribe`` and ``rt subscriptions ls|rm``: Kafka topics feeding handlers."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

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

subscriptions_app = typer.Typer(help="List and remove Kafka subscriptions.", no_args_is_help=True)


class StartFrom(StrEnum):
    earliest = "earliest"
    latest = "latest"


class Format(StrEnum):
    json = "json"
    avro = "avro"
    raw = "raw"


def subscribe(
    topic: Annotated[str, typer.Option("--topic", help="Source Kafka topic.")],
    to: Annotated[str, typer.Option("--to", help="Target handler as Service/handler.")],
    start: Annotated[
        StartFrom | None,
        typer.Option("--from", help="Where a new subscription starts (default latest)."),
    ] = None,
    fmt: Annotated[
        Format | None, typer.Option("--format", help="Record value format (default json).")
    ] = None,
    dlq: Annotated[
        str | None,
        typer.Option("--dlq", help="Dead-letter topic for poison records, or 'skip'."),
    ] = None,
    avro_schema_file: Annotated[
        str | None, typer.Option("--avro-schema-file", help="Avro schema file (format avro).")
    ] = None,
    schema_registry_url: Annotated[
        str | None,
        typer.Option("--schema-registry-url", help="Confluent schema registry (format avro)."),
    ] = None,
    cluster: Annotated[str, typer.Option("--cluster", help="Cluster name in the source URI.")] = (
        "default"
    ),
    admin_url: AdminUrl = DEFAULT_ADMIN_URL,
) -> None:
    """Subscribe a handler to a Kafka topic (each record invokes it exactly once)."""
    options: dict[str, str] = {}
    if start is not None:
        options["auto.offset.reset"] = start.value
    if fmt is not None:
        options["format"] = fmt.value
    if dlq is not None:
        options["dlq"] = dlq
    if avro_schema_file is not None:
        options["avro.schema.file"] = avro_schema_file
    if schema_registry_url is not None:
        options["schema.registry.url"] = schema_registry_url
    with connect(admin_url) as admin:
        try:
            sub = admin.create_subscription(
                f"kafka://{cluster}/{topic}", f"service://{to}", options
            )
        except AdminClientError as e:
            fail_admin(e)
    stdout().print(f"Created subscription {sub['id']}")


@subscriptions_app.command("ls")
def subscriptions_ls(as_json: JsonOpt = False, admin_url: AdminUrl = DEFAULT_ADMIN_URL) -> None:
    """List subscriptions."""
    with connect(admin_url) as admin:
        try:
            subs = admin.list_subscriptions()
        except AdminClientError as e:
            fail_admin(e)
    if as_json:
        print_json({"subscriptions": subs})
        return
    out = stdout()
    if not subs:
        out.print("No subscriptions. Create one with `rt subscribe --topic T --to Svc/handler`.")
        return
    table = Table(box=None, header_style="bold")
    for column in ("ID", "SOURCE", "SINK", "OPTIONS"):
        table.add_column(column, no_wrap=column != "OPTIONS")
    for sub in subs:
        opts = ", ".join(f"{k}={v}" for k, v in sorted(sub.get("options", {}).items()))
        table.add_row(Text(sub["id"]), Text(sub["source"]), Text(sub["sink"]), Text(opts))
    out.print(table)


@subscriptions_app.command("rm")
def subscriptions_rm(
    sub_id: Annotated[str, typer.Argument(metavar="ID", help="The subscription id (sub_...).")],
    admin_url: AdminUrl = DEFAULT_ADMIN_URL,
) -> None:
    """Remove a subscription (in-flight records are committed first)."""
    with connect(admin_url) as admin:
        try:
            admin.delete_subscription(sub_id)
        except AdminClientError as e:
            fail_admin(e)
    stdout().print(f"Removed subscription {sub_id}")
