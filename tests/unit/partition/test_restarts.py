"""The journal prefix a restart as new keeps (``runtime.partition.restarts``)."""

from __future__ import annotations

import pytest

from runtime.partition.restarts import PrefixError, restart_prefix
from sdk import engine as sj


def _blobs(*entries: sj.JournalEntry) -> list[bytes]:
    return [sj.encode_entry(e) for e in entries]


INPUT = sj.InputCommand(body=b"1")
RUN = sj.RunCommand(name="charge")
RUN_DONE = sj.Completion(1, sj.Value(b'"ok"'))
SET = sj.SetStateCommand(key="k", value=b"1")
SLEEP = sj.SleepCommand(wake_up_time_ms=5, name="nap")
SLEPT = sj.Completion(3, sj.Void())
OUTPUT = sj.OutputCommand(result=sj.Value(b'"done"'))
JOURNAL = _blobs(INPUT, RUN, RUN_DONE, SET, SLEEP, SLEPT, OUTPUT)
"""Commands 0 input, 1 run, 2 set, 3 sleep, 4 output; completions of 1 and 3."""


def test_from_zero_keeps_the_input_only() -> None:
    assert restart_prefix(JOURNAL, 0) == []


def test_a_prefix_keeps_its_commands_and_their_completions() -> None:
    assert restart_prefix(JOURNAL, 2) == _blobs(RUN, RUN_DONE)
    assert restart_prefix(JOURNAL, 3) == _blobs(RUN, RUN_DONE, SET)
    assert restart_prefix(JOURNAL, 5) == _blobs(RUN, RUN_DONE, SET, SLEEP, SLEPT)


def test_a_completion_after_the_prefix_comes_along() -> None:
    """``from`` at the sleep command: its completion (entry 5) is kept after it."""
    assert restart_prefix(JOURNAL, 4) == _blobs(RUN, RUN_DONE, SET, SLEEP, SLEPT)
    assert restart_prefix(JOURNAL, 1) == _blobs(RUN, RUN_DONE)


def test_a_command_that_never_completed_cannot_be_kept() -> None:
    journal = _blobs(INPUT, RUN, RUN_DONE, SLEEP, OUTPUT)  # the sleep (command 2) never woke
    with pytest.raises(PrefixError, match=r"never completed: 2 \(Sleep\)"):
        restart_prefix(journal, 3)
    assert restart_prefix(journal, 2) == _blobs(RUN, RUN_DONE)


def test_the_output_and_out_of_range_indexes_are_refused() -> None:
    with pytest.raises(PrefixError, match="keeps the invocation's output"):
        restart_prefix(JOURNAL, 6)
    for bad in (-1, 7, 100):
        with pytest.raises(PrefixError, match="outside the journal"):
            restart_prefix(JOURNAL, bad)


def test_a_cancel_signal_and_a_second_completion_are_dropped() -> None:
    again = sj.Completion(1, sj.Value(b'"again"'))
    journal = _blobs(INPUT, RUN, RUN_DONE, again, sj.CancelSignal(), SET, OUTPUT)
    assert restart_prefix(journal, 5) == _blobs(RUN, RUN_DONE, SET)
