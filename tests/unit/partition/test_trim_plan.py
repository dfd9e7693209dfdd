"""Which rt.log offsets a worker may delete: only ones Redis applied ``after_s`` ago."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from runtime.partition.trim import TrimPlan
from runtime.settings import Settings


def test_nothing_is_due_before_the_delay() -> None:
    plan = TrimPlan(after_s=10)
    plan.sample(0.0, {0: 5, 1: 0})
    plan.sample(4.0, {0: 9, 1: 3})
    assert plan.due(9.9) == {}
    assert plan.due(10.0) == {0: 5}  # offset 0 of partition 1: nothing to delete
    assert plan.due(13.9) == {}
    assert plan.due(14.0) == {0: 9, 1: 3}


def test_an_offset_is_deleted_once_and_failures_are_retried() -> None:
    plan = TrimPlan(after_s=1)
    plan.sample(0.0, {0: 7})
    assert plan.due(2.0) == {0: 7}
    # The delete failed: nothing marked trimmed, and the same offset comes back when a
    # newer sample is not yet due.
    plan.sample(2.0, {0: 8})
    assert plan.due(2.5) == {}
    assert plan.due(3.0) == {0: 8}
    plan.trimmed({0: 8})
    plan.sample(3.0, {0: 8})  # idle: no new offset, nothing more to do
    assert plan.due(10.0) == {}


def test_a_partition_lost_and_taken_again_waits_the_full_delay() -> None:
    plan = TrimPlan(after_s=10)
    plan.sample(0.0, {0: 5, 1: 5})
    plan.sample(5.0, {1: 6})  # partition 0 moved to another worker
    plan.sample(6.0, {0: 9, 1: 6})  # ... and came back
    assert plan.due(12.0) == {1: 5}
    assert plan.due(16.0) == {0: 9, 1: 6}


@given(
    st.lists(
        st.tuples(st.floats(0, 5), st.dictionaries(st.integers(0, 3), st.integers(0, 1000))),
        max_size=30,
    ),
    st.floats(1, 20),
)
def test_never_beyond_what_was_applied_after_s_ago(
    steps: list[tuple[float, dict[int, int]]], after_s: float
) -> None:
    """Whatever the sampling, a due offset was seen applied at least ``after_s`` earlier."""
    plan = TrimPlan(after_s)
    now = 0.0
    history: list[tuple[float, dict[int, int]]] = []
    applied: dict[int, int] = {}
    for dt, raw in steps:
        now += dt
        for p, off in raw.items():  # applied offsets only grow
            applied[p] = max(applied.get(p, 0), off)
        seen = {p: applied[p] for p in raw}
        history.append((now, seen))
        plan.sample(now, seen)
        for p, off in plan.due(now).items():
            assert any(t <= now - after_s and s.get(p, -1) >= off for t, s in history)
            plan.trimmed({p: off})


def test_trimming_settings_are_checked() -> None:
    assert Settings().log_trim_after_s is None  # off by default: the whole log is kept
    assert Settings(log_trim_after_s=3600).log_trim_after_s == 3600
    with pytest.raises(ValidationError, match="greater than or equal to 5"):
        Settings(log_trim_after_s=1)  # inside Redis's AOF fsync window
    with pytest.raises(ValidationError, match="needs redis_appendfsync everysec or always"):
        Settings(log_trim_after_s=60, redis_appendfsync="no")
