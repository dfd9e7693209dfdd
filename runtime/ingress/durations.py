"""Parsing of the ``?delay=`` query parameter of sends.

Restate parses it as a jiff ``Span`` (restate-util-time's ``FriendlyDuration``),
so it takes two notations, and rt adds a third:

- ISO 8601 / Temporal: ``PT10S``, ``P1DT2H``, ``PT1.5H``, ``P2W`` (case-insensitive);
- jiff's "friendly" format: ``10s``, ``60 sec``, ``500ms``, ``5m``, ``1h 30m``,
  ``1 day, 2 hours``, ``2h30m15.5s``, and clock form ``01:30:00``;
- bare integers, meaning milliseconds: the Python SDK client sends
  ``?delay=<ms>``, which Restate itself would reject.

As in Restate, days are 24 hours, weeks 7 days, years and months are refused
(their length varies), negative spans are refused, units must come largest
first with no repeats, and only the last (hour-or-smaller) unit may have a
fraction. Results are whole milliseconds, truncated.
"""

from __future__ import annotations

import re
from typing import Final

_NS_PER_MS: Final = 1_000_000
_NS_PER_S: Final = 1_000_000_000
_NS_PER_HOUR: Final = 3600 * _NS_PER_S
_NS_PER_DAY: Final = 24 * _NS_PER_HOUR

MAX_DURATION_MS: Final = 631_107_417_600 * 1000
"""Largest span jiff represents (about 19,998 years); anything longer is refused."""

# Unit name -> (size in ns, rank); a lower rank is a larger unit. ``None`` size:
# a calendar unit whose length varies, refused like Restate does.
_YEAR: Final = (None, 0)
_MONTH: Final = (None, 1)
_UNITS: Final[dict[str, tuple[int | None, int]]] = {
    **dict.fromkeys(("y", "yr", "yrs", "year", "years"), _YEAR),
    **dict.fromkeys(("mo", "mos", "month", "months"), _MONTH),
    **dict.fromkeys(("w", "wk", "wks", "week", "weeks"), (7 * _NS_PER_DAY, 2)),
    **dict.fromkeys(("d", "day", "days"), (_NS_PER_DAY, 3)),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), (_NS_PER_HOUR, 4)),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), (60 * _NS_PER_S, 5)),
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), (_NS_PER_S, 6)),
    **dict.fromkeys(("ms", "msec", "msecs", "millisecond", "milliseconds"), (_NS_PER_MS, 7)),
    **dict.fromkeys(
        (
            "us",
            "usec",
            "usecs",
            "µs",
            "µsec",
            "µsecs",
            "μs",
            "μsec",
            "μsecs",
            "microsecond",
            "microseconds",
        ),
        (1000, 8),
    ),
    **dict.fromkeys(("ns", "nsec", "nsecs", "nanosecond", "nanoseconds"), (1, 9)),
}
_HOUR_RANK: Final = 4

_BARE_MS = re.compile(r"\d+", re.ASCII)
_ISO = re.compile(
    r"P(?:(?P<Y>\d+)Y)?(?:(?P<M>\d+)M)?(?:(?P<W>\d+)W)?(?:(?P<D>\d+)D)?"
    r"(?:(?P<T>T)(?:(?P<h>\d+(?:[.,]\d{1,9})?)H)?(?:(?P<m>\d+(?:[.,]\d{1,9})?)M)?"
    r"(?:(?P<s>\d+(?:[.,]\d{1,9})?)S)?)?",
    re.IGNORECASE | re.ASCII,
)
_CLOCK = re.compile(r"(?P<h>\d{2}):(?P<m>\d{2}):(?P<s>\d{2})(?:[.,](?P<f>\d{1,9}))?", re.ASCII)
_FRIENDLY_PART = re.compile(r"(?P<num>\d+(?:[.,]\d{1,9})?)\s*(?P<unit>[a-zµμ]+)", re.ASCII)
_SEPARATOR = re.compile(r"\s*,\s*|\s+|", re.ASCII)


class DurationError(ValueError):
    """A delay that is not a duration rt (or Restate) understands."""


def parse_duration_ms(text: str) -> int:
    """Parse a delay into whole milliseconds.

    Args:
        text: ``PT10S``, ``10s``, ``1h 30m``, ``01:30:00`` or bare milliseconds ``500``.

    Returns:
        The duration in milliseconds (sub-millisecond parts are truncated).

    Raises:
        DurationError: The text is not a non-negative duration of days or smaller units.

    Example:
        >>> parse_duration_ms("1h 30m"), parse_duration_ms("PT0.5S"), parse_duration_ms("250")
        (5400000, 500, 250)
    """
    stripped = text.strip()
    if not stripped:
        raise DurationError("empty duration")
    if _BARE_MS.fullmatch(stripped):
        return _bounded(int(stripped) * _NS_PER_MS)

    negative = False
    body = stripped
    if body[0] in "+-":
        negative = body[0] == "-"
        body = body[1:].lstrip()
    if body.endswith(" ago"):
        negative = not negative
        body = body[: -len(" ago")].rstrip()
    if not body:
        raise DurationError(f"no duration in {text!r}")

    if body[0] in "Pp":
        ns = _parse_iso(body)
    elif _CLOCK.fullmatch(body):
        ns = _parse_clock(body)
    else:
        ns = _parse_friendly(body)
    if negative and ns:
        raise DurationError("negative durations are not allowed")
    return _bounded(ns)


def _bounded(ns: int) -> int:
    ms = ns // _NS_PER_MS
    if ms > MAX_DURATION_MS:
        raise DurationError("duration too large")
    return ms


def _scaled(number: str, unit_ns: int) -> int:
    """``number`` (``12`` or ``1.5`` / ``1,5``) times ``unit_ns``, exactly, truncated to ns."""
    whole, _, frac = number.replace(",", ".").partition(".")
    result = int(whole) * unit_ns
    if frac:
        result += int(frac) * unit_ns // 10 ** len(frac)
    return result


def _parse_iso(body: str) -> int:
    match = _ISO.fullmatch(body)
    if match is None:
        raise DurationError(f"invalid ISO 8601 duration {body!r}")
    groups = match.groupdict()
    date_units = [u for u in ("Y", "M", "W", "D") if groups[u] is not None]
    time_units = [u for u in ("h", "m", "s") if groups[u] is not None]
    if not date_units and not time_units:
        raise DurationError(f"ISO 8601 duration {body!r} has no units")
    if groups["T"] and not time_units:
        raise DurationError(f"ISO 8601 duration {body!r} has a 'T' but no time units")
    fractional = [u for u in time_units if any(c in (groups[u] or "") for c in ".,")]
    if fractional and fractional != [time_units[-1]]:
        raise DurationError("only the smallest unit of a duration may have a fraction")
    if int(groups["Y"] or 0) or int(groups["M"] or 0):
        raise DurationError("Please use units of days or smaller")
    sizes = {
        "W": 7 * _NS_PER_DAY,
        "D": _NS_PER_DAY,
        "h": _NS_PER_HOUR,
        "m": 60 * _NS_PER_S,
        "s": _NS_PER_S,
    }
    return sum(_scaled(groups[u] or "0", sizes[u]) for u in ("W", "D", *time_units))


def _parse_clock(body: str) -> int:
    match = _CLOCK.fullmatch(body)
    assert match is not None
    minutes, seconds = int(match["m"]), int(match["s"])
    if minutes > 59 or seconds > 59:
        raise DurationError(f"invalid clock duration {body!r}")
    frac = match["f"] or ""
    ns = int(match["h"]) * _NS_PER_HOUR + minutes * 60 * _NS_PER_S + seconds * _NS_PER_S
    return ns + (int(frac) * _NS_PER_S // 10 ** len(frac) if frac else 0)


def _parse_friendly(body: str) -> int:
    lowered = body.lower()
    pos, total, last_rank, saw_fraction = 0, 0, -1, False
    while True:
        match = _FRIENDLY_PART.match(lowered, pos)
        if match is None:
            raise DurationError(f"invalid duration {body!r}")
        unit = _UNITS.get(match["unit"])
        if unit is None:
            raise DurationError(f"unknown unit {match['unit']!r} in {body!r}")
        size, rank = unit
        if rank <= last_rank:
            raise DurationError(f"units must be in descending order without repeats in {body!r}")
        if saw_fraction:
            raise DurationError("only the smallest unit of a duration may have a fraction")
        number = match["num"]
        if "." in number or "," in number:
            if rank < _HOUR_RANK:
                raise DurationError("fractions are only allowed on hours or smaller units")
            saw_fraction = True
        if size is None:
            if int(number):
                raise DurationError("Please use units of days or smaller")
        else:
            total += _scaled(number, size)
        last_rank = rank
        pos = match.end()
        if pos == len(lowered):
            return total
        separator = _SEPARATOR.match(lowered, pos)
        assert separator is not None  # the empty alternative always matches
        pos = separator.end()
        if pos == len(lowered):
            raise DurationError(f"trailing separator in {body!r}")
