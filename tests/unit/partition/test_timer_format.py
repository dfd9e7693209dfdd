"""The timer member encoding is its identity in Redis and in TimerFired: NEVER CHANGE."""

from __future__ import annotations

from runtime.partition.timer import Timer, timer_decoder, timer_encoder


def test_timer_members_are_pinned() -> None:
    sleep = Timer("sleep", "inv_x", 3)
    assert timer_encoder.encode(sleep).hex() == "94a5736c656570a5696e765f780300"
    cron = Timer("cron", "nightly", 1_767_225_600_000, 2)
    assert timer_encoder.encode(cron).hex() == "94a463726f6ea76e696768746c79cf0000019b76daa80002"
    assert timer_decoder.decode(timer_encoder.encode(cron)) == cron
