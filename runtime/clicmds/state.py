"""``rt state``: read and change the K/V state of virtual objects and workflows.

Values are JSON on the command line and bytes in rt: ``rt state set Counter
my-key '{"count": 5}'`` stores the bytes ``5`` (``json.dumps`` of each value,
what the SDK's default JSON serde reads back). Writes go through
``POST /services/{name}/state``, which replaces the whole state once no
invocation holds the key; they carry the version read just before, so a state
that changed in the meantime is not overwritten.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from runtime.admin.metadata import ObjectStateResponse
from runtime.clicmds._client import AdminClient, AdminClientError, ObjectState
from runtime.clicmds._common import (
    DEFAULT_ADMIN_URL,
    USAGE_ERROR,
    AdminUrl,
    JsonOpt,
    connect,
    fail,
    fail_admin,
    print_json,
    stdin_is_tty,
    stdout,
)

state_app = typer.Typer(
    help="Read and change the state of virtual objects and workflows.", no_args_is_help=True
)

ServiceArg = Annotated[
    str, typer.Argument(metavar="SERVICE", help="Virtual object or workflow name.")
]
KeyArg = Annotated[str, typer.Argument(metavar="KEY", help="Object key (workflow id).")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Apply without asking for confirmation.")]

_COMPACT_WIDTH = 60
"""JSON values up to this many characters are shown on one line."""

_CHANGE_STYLE = {"added": "green", "changed": "yellow", "removed": "red", "unchanged": "dim"}


def encode_value(value: object) -> bytes:
    """The bytes a JSON value is stored as (what the SDK's JSON serde writes).

    Args:
        value: A JSON-compatible value.

    Returns:
        ``json.dumps(value)`` as UTF-8.

    Example:
        >>> encode_value(5)
        b'5'
    """
    return json.dumps(value).encode()


def decode_value(raw: bytes) -> object:
    """Parse stored bytes as UTF-8 JSON.

    Args:
        raw: The stored value.

    Returns:
        The JSON value.

    Raises:
        ValueError: If the bytes are not UTF-8 JSON.
    """
    return json.loads(raw.decode("utf-8"))


def display_value(raw: bytes) -> str:
    """Render a stored value for a table: JSON (pretty when long), else text, else base64.

    Args:
        raw: The stored value.

    Returns:
        The text to show.
    """
    try:
        value = decode_value(raw)
    except ValueError:
        pass
    else:
        compact = json.dumps(value, ensure_ascii=False)
        if len(compact) <= _COMPACT_WIDTH:
            return compact
        return json.dumps(value, indent=2, ensure_ascii=False)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return f"<{len(raw)} bytes, base64 {base64.urlsafe_b64encode(raw).decode()}>"


def _read(admin: AdminClient, service: str, key: str) -> ObjectState:
    try:
        return admin.get_state(service, key)
    except AdminClientError as e:
        fail_admin(e)


def _write(
    admin: AdminClient, service: str, key: str, new_state: Mapping[str, bytes], version: str
) -> None:
    try:
        applied = admin.set_state(service, key, new_state, version)
    except AdminClientError as e:
        fail_admin(e)
    if not applied:
        fail(
            f"the state of {service}/{key} changed since it was read; nothing was written. "
            "Run the command again."
        )


def _confirm(yes: bool) -> None:
    if yes:
        return
    if not stdin_is_tty():
        fail(
            "not changing state without confirmation, and stdin is not a terminal to ask on: "
            "pass --yes to apply the change",
            USAGE_ERROR,
        )
    if not typer.confirm("Are you sure you want to apply those changes?", default=False):
        fail("aborted; nothing was changed")


def _utf8(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _print_target(out: Console, service: str, key: str) -> None:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("Service", Text(service))
    grid.add_row("Key", Text(key))
    out.print(grid)
    out.print()


@state_app.command("get")
def state_get(
    service: ServiceArg,
    key: KeyArg,
    plain: Annotated[
        bool, typer.Option("--plain", "-p", help="Print the state as one JSON object.")
    ] = False,
    binary: Annotated[
        bool, typer.Option("--binary", help="Show values as base64 instead of UTF-8 JSON.")
    ] = False,
    as_json: JsonOpt = False,
    admin_url: AdminUrl = DEFAULT_ADMIN_URL,
) -> None:
    """Show the state of a virtual object or workflow."""
    with connect(admin_url) as admin:
        state = _read(admin, service, key)
    entries = {k: state.entries[k] for k in sorted(state.entries)}
    if as_json:
        print_json(
            ObjectStateResponse(
                service=service,
                key=key,
                state={k: list(raw) for k, raw in entries.items()},
                state_utf8={k: _utf8(raw) for k, raw in entries.items()},
                version=state.version,
            )
        )
        return

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode()

    if plain:
        obj: dict[str, object] = {}
        for k, raw in entries.items():
            if binary:
                obj[k] = b64(raw)
                continue
            try:
                obj[k] = decode_value(raw)
            except ValueError:
                fail(
                    f"the value of state key {k!r} is not UTF-8 JSON; "
                    "pass --binary to print values as base64"
                )
        typer.echo(json.dumps(obj, ensure_ascii=False))
        return

    out = stdout()
    out.print("🤖 [bold]State[/]")
    _print_target(out, service, key)
    if not entries:
        out.print(f"(no state for {service}/{key})", markup=False)
        return
    table = Table(box=None, header_style="bold")
    table.add_column("KEY", no_wrap=True)
    table.add_column("VALUE")
    for k, raw in entries.items():
        table.add_row(Text(k), Text(b64(raw) if binary else display_value(raw)))
    out.print(table)


def _diff(current: Mapping[str, bytes], new: Mapping[str, bytes]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for k in sorted(set(current) | set(new)):
        if k not in new:
            rows.append((k, "removed"))
        elif k not in current:
            rows.append((k, "added"))
        elif current[k] != new[k]:
            rows.append((k, "changed"))
        else:
            rows.append((k, "unchanged"))
    return rows


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


@state_app.command("set")
def state_set(
    service: ServiceArg,
    key: KeyArg,
    json_object: Annotated[
        str,
        typer.Argument(
            metavar="JSON_OBJECT",
            help="New state as a JSON object of state keys to JSON values, e.g. '{\"count\": 5}'.",
        ),
    ],
    merge: Annotated[
        bool,
        typer.Option(
            "--merge",
            help="Keep state keys not in JSON_OBJECT (default: replace the whole state).",
        ),
    ] = False,
    yes: YesOpt = False,
    admin_url: AdminUrl = DEFAULT_ADMIN_URL,
) -> None:
    """Set the state of a virtual object or workflow (asks first unless --yes)."""
    try:
        parsed = json.loads(json_object)
    except json.JSONDecodeError as e:
        fail(
            f"JSON_OBJECT is not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})",
            USAGE_ERROR,
        )
    if not isinstance(parsed, dict):
        fail(
            "JSON_OBJECT must be a JSON object of state keys to values, e.g. "
            f"'{{\"count\": 5}}', not a JSON {_json_kind(parsed)}",
            USAGE_ERROR,
        )
    encoded = {k: encode_value(v) for k, v in parsed.items()}

    out = stdout()
    with connect(admin_url) as admin:
        current = _read(admin, service, key)
        new_state = {**current.entries, **encoded} if merge else encoded
        rows = _diff(current.entries, new_state)
        if all(change == "unchanged" for _, change in rows):
            out.print(f"Nothing to change: the state of {service}/{key} is already that.")
            return
        table = Table(box=None, header_style="bold")
        for column in ("KEY", "CURRENT", "NEW", "CHANGE"):
            table.add_column(column)
        for k, change in rows:
            old = display_value(current.entries[k]) if k in current.entries else ""
            new = display_value(new_state[k]) if k in new_state else ""
            table.add_row(Text(k), Text(old), Text(new), Text(change, style=_CHANGE_STYLE[change]))
        _print_target(out, service, key)
        out.print(table)
        out.print()
        counts = {c: sum(1 for _, ch in rows if ch == c) for c in ("added", "changed", "removed")}
        out.print(
            f"{counts['added']} added, {counts['changed']} changed, {counts['removed']} removed. "
            "The change is applied after any invocation currently running on this key.",
            markup=False,
        )
        _confirm(yes)
        _write(admin, service, key, new_state, current.version)
    out.print(f"✅ State change for {service}/{key} enqueued.", markup=False)


@state_app.command("clear")
def state_clear(
    service: ServiceArg,
    key: KeyArg,
    yes: YesOpt = False,
    admin_url: AdminUrl = DEFAULT_ADMIN_URL,
) -> None:
    """Remove all state of a virtual object or workflow (asks first unless --yes)."""
    out = stdout()
    with connect(admin_url) as admin:
        current = _read(admin, service, key)
        if not current.entries:
            out.print(f"{service}/{key} has no state; nothing to clear.", markup=False)
            return
        table = Table(box=None, header_style="bold")
        table.add_column("KEY", no_wrap=True)
        table.add_column("VALUE")
        for k in sorted(current.entries):
            table.add_row(Text(k), Text(display_value(current.entries[k])))
        _print_target(out, service, key)
        out.print(table)
        out.print()
        out.print(
            f"Going to remove all {len(current.entries)} state entries of {service}/{key}, "
            "after any invocation currently running on this key.",
            markup=False,
        )
        _confirm(yes)
        _write(admin, service, key, {}, current.version)
    out.print(f"✅ State of {service}/{key} cleared (enqueued).", markup=False)
