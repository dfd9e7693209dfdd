"""``?delay=`` parsing: ISO 8601, jiff's friendly format, and bare milliseconds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.ingress.durations import MAX_DURATION_MS, DurationError, parse_duration_ms

S, M, H, D = 1000, 60_000, 3_600_000, 86_400_000


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        # ISO 8601 / Temporal
        ("PT10S", 10 * S),
        ("PT60S", 60 * S),
        ("P1DT2H", D + 2 * H),
        ("P30DT10H30M15S", 30 * D + 10 * H + 30 * M + 15 * S),
        ("PT1.5H", 90 * M),
        ("PT0,25S", 250),
        ("PT0.0015S", 1),  # sub-millisecond parts are truncated
        ("P2W", 14 * D),
        ("pt10s", 10 * S),
        ("+PT1M", M),
        ("P0Y0M1D", D),  # zero calendar units are harmless
        # friendly (humantime / jiff)
        ("10s", 10 * S),
        ("60 sec", 60 * S),
        ("60sec", 60 * S),
        ("60ms", 60),
        ("60000ms", 60 * S),
        ("500ms", 500),
        ("5m", 5 * M),
        ("10 min", 10 * M),
        ("1h 30m", 90 * M),
        ("1h30m", 90 * M),
        ("2h30m15.5s", 2 * H + 30 * M + 15 * S + 500),
        ("1 day, 2 hours", D + 2 * H),
        ("3 days, 4 hours, 59 minutes", 3 * D + 4 * H + 59 * M),
        ("36h 4m 2s", 129_842 * S),
        ("1w 1d", 8 * D),
        ("1.5h", 90 * M),
        ("1500us", 1),
        ("2000000ns", 2),
        ("10S", 10 * S),
        ("01:30:00", 90 * M),
        ("00:00:01.5", 1500),
        ("  5s  ", 5 * S),
        # bare integers are milliseconds (what the Python SDK client sends)
        ("0", 0),
        ("250", 250),
        ("86400000", D),
    ],
)
def test_accepted(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "abc",
        "10 parsecs",
        "P",
        "PT",
        "P1M",  # months vary in length
        "P1Y",
        "1 month",
        "2y",
        "P1.5D",  # fractions only on the smallest time unit
        "PT1.5H30M",
        "1.5d",
        "1.5h 30m",
        "5m 1h",  # units largest first
        "1h 1h",
        "-5s",
        "-PT5S",
        "5s ago",
        "1h,",
        "10 s,",
        "PT10",
        "10s10",
        "12:61:00",
        "1e3",
        "0x10",
        "-1",
        "\u0663",  # ARABIC-INDIC DIGIT THREE: digits are ASCII only
        "\u0663s",
    ],
)
def test_refused(text: str) -> None:
    with pytest.raises(DurationError):
        parse_duration_ms(text)


def test_months_message_matches_restate() -> None:
    with pytest.raises(DurationError, match="Please use units of days or smaller"):
        parse_duration_ms("P1M")


def test_too_large() -> None:
    assert parse_duration_ms(f"{MAX_DURATION_MS}") == MAX_DURATION_MS
    with pytest.raises(DurationError, match="too large"):
        parse_duration_ms(f"{MAX_DURATION_MS + 1}")


_ms = st.integers(min_value=0, max_value=10**12)


@given(_ms)
def test_bare_integers_are_milliseconds(ms: int) -> None:
    assert parse_duration_ms(str(ms)) == ms


@given(_ms)
def test_iso_seconds_roundtrip(ms: int) -> None:
    assert parse_duration_ms(f"PT{ms // 1000}.{ms % 1000:03d}S") == ms


@given(_ms, st.sampled_from(["", " ", ", "]), st.booleans())
def test_friendly_units_roundtrip(ms: int, sep: str, verbose: bool) -> None:
    days, rest = divmod(ms, D)
    hours, rest = divmod(rest, H)
    minutes, rest = divmod(rest, M)
    seconds, millis = divmod(rest, S)
    names = (
        ["days", "hours", "minutes", "seconds", "milliseconds"]
        if verbose
        else ["d", "h", "m", "s", "ms"]
    )
    values = [days, hours, minutes, seconds, millis]
    parts = [f"{v} {n}" if verbose else f"{v}{n}" for v, n in zip(values, names, strict=True) if v]
    text = sep.join(parts) or "0s"
    assert parse_duration_ms(text) == ms


@given(_ms)
def test_iso_components_roundtrip(ms: int) -> None:
    days, rest = divmod(ms, D)
    hours, rest = divmod(rest, H)
    minutes, rest = divmod(rest, M)
    text = f"P{days}DT{hours}H{minutes}M{rest // 1000}.{rest % 1000:03d}S"
    assert parse_duration_ms(text) == ms


@given(st.text(max_size=30))
def test_arbitrary_text_never_crashes(text: str) -> None:
    try:
        result = parse_duration_ms(text)
    except DurationError:
        return
    assert 0 <= result <= MAX_DURATION_MS
