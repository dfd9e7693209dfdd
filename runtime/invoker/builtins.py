"""rt's built-in services next to the user's: the reserved ``rt.`` name prefix.

Every node hosts ``sdk.engine.builtin_services()`` in process (today ``rt.Kafka``, the
Kafka egress of handlers behind an HTTP endpoint; ADR 0021 §4). Service names starting
with ``rt.`` are rt's: an app or a deployment that defines one is refused.

Owns the prefix rule and the composition of the hosted service list; may import the
SDK's public engine seam only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

RESERVED_PREFIX = "rt."
"""Names of rt's built-in services start with this; users' may not."""


def reserved_names(names: Iterable[str]) -> list[str]:
    """The names among ``names`` that use rt's reserved prefix."""
    return sorted(n for n in names if n.startswith(RESERVED_PREFIX))


def with_builtins(services: list[Any]) -> list[Any]:
    """The user's in-process services and rt's built-in ones.

    Raises:
        ValueError: a user service uses the reserved ``rt.`` prefix.
    """
    from sdk.engine import builtin_services  # light to import for the CLI's prefix check

    check_names(s.name for s in services)
    return [*services, *builtin_services()]


def check_names(names: Iterable[str]) -> None:
    """Refuse user service names in rt's reserved namespace.

    Raises:
        ValueError: one of ``names`` starts with ``rt.``.
    """
    taken = reserved_names(names)
    if taken:
        raise ValueError(
            f"service names starting with {RESERVED_PREFIX!r} are reserved for rt's built-in "
            f"services: rename {', '.join(taken)}"
        )
