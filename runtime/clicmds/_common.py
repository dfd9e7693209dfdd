"""What the admin-API commands share: the ``--admin-url`` and ``--json`` options, output,
exit codes, failing.

Exit codes (documented in docs/cli.md, stable for scripts): 0 success, 1 any other
error, 2 bad arguments (as click), 3 not found, 4 refused by the API (nothing changed),
5 the admin API is unreachable.

Output: tables for people; with ``--json`` the admin API's own JSON (the same field
names, documented with the API), one document on stdout. When stdout is not a terminal
(a pipe, a file) tables are printed at their full width: a value is never cut to fit
80 columns, so ``rt subscriptions ls | grep <topic>`` finds it.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any, NoReturn

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape

from runtime.clicmds._client import DEFAULT_ADMIN_URL, AdminClient, AdminClientError, ErrorKind

AdminUrl = Annotated[
    str,
    typer.Option(
        "--admin-url",
        envvar="RT_ADMIN_URL",
        help="Base URL of the rt admin API.",
        show_envvar=True,
    ),
]
"""The ``--admin-url`` option every admin command takes (env ``RT_ADMIN_URL``)."""

JsonOpt = Annotated[
    bool,
    typer.Option(
        "--json", help="Print the admin API's JSON (stable field names) instead of a table."
    ),
]
"""The ``--json`` option of every command that lists or describes."""

ERROR = 1
"""Exit code for any error without a more specific code."""
USAGE_ERROR = 2
"""Exit code for bad arguments (as click uses)."""
NOT_FOUND = 3
"""Exit code when what the command names does not exist."""
REFUSED = 4
"""Exit code when the admin API refused the request (nothing changed)."""
UNREACHABLE = 5
"""Exit code when the admin API cannot be reached."""

_EXIT_CODES = {
    ErrorKind.UNREACHABLE: UNREACHABLE,
    ErrorKind.NOT_FOUND: NOT_FOUND,
    ErrorKind.REFUSED: REFUSED,
    ErrorKind.FAILED: ERROR,
}

_PIPE_WIDTH = 100_000
"""Console width when stdout is not a terminal: wide enough that nothing is cut."""


def stdout() -> Console:
    """A console on stdout (created per command so ``COLUMNS`` is honoured on a terminal)."""
    if sys.stdout is not None and sys.stdout.isatty():
        return Console(highlight=False)
    return Console(highlight=False, width=_PIPE_WIDTH, soft_wrap=True)


def print_json(document: BaseModel | dict[str, Any] | list[Any]) -> None:
    """Write ``document`` as indented JSON to stdout (no markup, never wrapped)."""
    data = document.model_dump(mode="json") if isinstance(document, BaseModel) else document
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def fail(message: str, code: int = ERROR) -> NoReturn:
    """Print ``error: message`` to stderr and exit.

    Args:
        message: Plain text (not rich markup).
        code: The process exit code.

    Raises:
        typer.Exit: Always.
    """
    Console(stderr=True, highlight=False).print(
        f"[bold red]error:[/] {escape(message)}", soft_wrap=True
    )
    raise typer.Exit(code)


def fail_admin(e: AdminClientError) -> NoReturn:
    """Fail with the admin error's message and the exit code of its kind."""
    fail(e.message, _EXIT_CODES[e.kind])


def connect(admin_url: str) -> AdminClient:
    """Open a client for ``admin_url``, failing the command on a malformed URL.

    Args:
        admin_url: The ``--admin-url`` value.

    Returns:
        The client.
    """
    try:
        return AdminClient(admin_url)
    except AdminClientError as e:
        fail(e.message, USAGE_ERROR)


def stdin_is_tty() -> bool:
    """Whether a person can answer a confirmation prompt on stdin."""
    return sys.stdin is not None and sys.stdin.isatty()


__all__ = [
    "DEFAULT_ADMIN_URL",
    "ERROR",
    "NOT_FOUND",
    "REFUSED",
    "UNREACHABLE",
    "USAGE_ERROR",
    "AdminUrl",
    "JsonOpt",
    "connect",
    "fail",
    "fail_admin",
    "print_json",
    "stdin_is_tty",
    "stdout",
]
