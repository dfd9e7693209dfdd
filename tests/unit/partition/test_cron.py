"""Cron schedules and the per-partition job table: ticks, missed-tick policy, redefinition."""

from __future__ import annotations

import pytest

from runtime.log import records
from runtime.partition.cron import (
    CronError,
    CronJobs,
    decode_state,
    latest_tick,
    next_tick,
    tick_target,
    tick_timer,
    validate_schedule,
)
from runtime.partition.timer import timer_encoder
from runtime.state.keys import PartitionKeys
from runtime.state.store import HDel, HSet
from sdk._ids import cron_invocation_id, parse_invocation_id, partition_for_hash, routing_hash

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
TARGET = records.Target("Stamp", "tick", None, "service")


def job(**kw: object) -> records.CronJob:
    base: dict[str, object] = {"id": "j1", "target": TARGET, "created_ms": T0 + 123}
    base.update(kw)
    return records.CronJob(**base)  # type: ignore[arg-type]


def test_cron_invocation_id_is_pinned_and_routes_to_the_target() -> None:
    """NEVER CHANGE: a changed id would run a tick twice across an upgrade."""
    assert cron_invocation_id("nightly", T0, "Stamp", None) == "inv_FIrToByDvhxpMdt8tWnE73UOBFD"
    obj = cron_invocation_id("nightly", T0, "Locker", "K")
    assert obj == "inv_7mOOf38cMAlRPzq11ClBVeaVoXD"
    rhash, _ = parse_invocation_id(obj)
    assert partition_for_hash(rhash, 8) == partition_for_hash(routing_hash(b"Locker/K"), 8)
    assert cron_invocation_id("nightly", T0 + 1, "Stamp", None) != cron_invocation_id(
        "nightly", T0, "Stamp", None
    )


def test_cron_key_is_pinned() -> None:
    assert PartitionKeys("rt", 7).cron == "rt:{p7}:cron"


@pytest.mark.parametrize(
    ("schedule", "every"),
    [(None, None), ("* * * * *", 5000), ("61 * * * *", None), ("* * *", None), (None, 999)],
)
def test_bad_schedules_are_refused(schedule: str | None, every: int | None) -> None:
    with pytest.raises(CronError):
        validate_schedule(schedule, every)


def test_good_schedules_pass() -> None:
    validate_schedule("*/5 * * * *", None)
    validate_schedule("*/2 * * * * *", None)
    validate_schedule(None, 1000)


def test_interval_ticks_are_anchored_at_creation() -> None:
    j = job(every_ms=1000)
    assert next_tick(j, T0 + 123) == T0 + 1123
    assert next_tick(j, T0 + 1123) == T0 + 2123
    assert next_tick(j, T0) == T0 + 1123
    assert latest_tick(j, T0 + 5500) == T0 + 5123


def test_cron_ticks_in_utc_minutes_and_seconds() -> None:
    j = job(schedule="*/5 * * * *")
    assert next_tick(j, T0) == T0 + 5 * 60_000
    assert next_tick(j, T0 + 1) == T0 + 5 * 60_000
    assert latest_tick(j, T0 + 11 * 60_000) == T0 + 10 * 60_000
    assert latest_tick(j, T0 + 10 * 60_000) == T0 + 10 * 60_000
    s = job(schedule="*/2 * * * * *")  # seconds first
    assert next_tick(s, T0) == T0 + 2000
    assert next_tick(s, T0 + 2000) == T0 + 4000


def test_schedule_tick_and_missed_ticks_fire_once_for_the_latest() -> None:
    keys = PartitionKeys("rt", 0)
    jobs = CronJobs(keys)
    j = job(every_ms=1000)
    ch = jobs.schedule(j)
    assert ch.arm == [(tick_timer("j1", T0 + 1123, 1), T0 + 1123)]
    assert isinstance(ch.ops[0], HSet)
    assert decode_state(ch.ops[0].value).next_ms == T0 + 1123

    on_time = jobs.tick(tick_timer("j1", T0 + 1123, 1), now_ms=T0 + 1130)
    assert on_time.invoke is not None
    assert on_time.invoke.invocation_id == cron_invocation_id("j1", T0 + 1123, "Stamp", None)
    assert on_time.arm == [(tick_timer("j1", T0 + 2123, 1), T0 + 2123)]

    # The worker was down for ~10 ticks: one run, for the latest missed tick, then resume.
    late = jobs.tick(tick_timer("j1", T0 + 2123, 1), now_ms=T0 + 12_500)
    assert late.invoke is not None
    assert late.invoke.invocation_id == cron_invocation_id("j1", T0 + 12_123, "Stamp", None)
    assert late.arm == [(tick_timer("j1", T0 + 13_123, 1), T0 + 13_123)]

    # A stale tick (already handled) does nothing.
    assert jobs.tick(tick_timer("j1", T0 + 2123, 1), now_ms=T0 + 12_600).invoke is None


def test_redefinition_disarms_the_old_tick_and_delete_stops_it() -> None:
    jobs = CronJobs(PartitionKeys("rt", 0))
    jobs.schedule(job(every_ms=1000))
    ch = jobs.schedule(job(every_ms=5000, created_ms=T0 + 10_000))
    assert ch.disarm == [timer_encoder.encode(tick_timer("j1", T0 + 1123, 1))]
    assert ch.arm == [(tick_timer("j1", T0 + 15_000, 2), T0 + 15_000)]
    # The old generation's tick, if it still fires, is ignored.
    assert jobs.tick(tick_timer("j1", T0 + 1123, 1), now_ms=T0 + 20_000).invoke is None
    gone = jobs.delete("j1")
    assert gone.disarm == [timer_encoder.encode(tick_timer("j1", T0 + 15_000, 2))]
    assert gone.ops == [HDel("rt:{p0}:cron", "j1")]
    assert jobs.tick(tick_timer("j1", T0 + 15_000, 2), now_ms=T0 + 20_000).invoke is None
    assert jobs.delete("j1").ops == []


def test_tick_placeholder_names_each_ticks_key_pinned() -> None:
    """The format is part of workflow ids users see and attach to: never change it."""
    wf = records.Target("Report", "run", "daily-{tick}", "workflow")
    got = tick_target(wf, 1_795_860_000_123)  # 2026-11-28T10:00:00.123Z
    assert got == records.Target("Report", "run", "daily-20261128T100000Z", "workflow")
    plain = records.Target("Counter", "add", "k1", "exclusive")
    assert tick_target(plain, 1_795_860_000_000) is plain
    assert tick_target(records.Target("Svc", "h"), 0).key is None
