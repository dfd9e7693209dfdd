"""What the admin-API commands share: the ``--admin-url`` option, output, failing."""

from __future__ import annotations

import sys
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from runtime.clicmds._client import DEFAULT_ADMIN_URL, AdminClient, AdminClientError

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

USAGE_ERROR = 2
"""Exit code for bad arguments (as click uses)."""


def stdout() -> Console:
    """A console on stdout (created per command so ``COLUMNS`` is honoured)."""
    return Console(highlight=False)


def fail(message: str, code: int = 1) -> NoReturn:
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


__all__ = ["DEFAULT_ADMIN_URL", "AdminUrl", "connect", "fail", "stdin_is_tty", "stdout"]
