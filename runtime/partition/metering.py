"""What a partition processor reports to the node's metrics after each apply.

The machine tallies what a batch did (:class:`~runtime.partition.effects.Tally`,
data); once the batch is applied — and only if it was not applied before, so a
re-delivered record is never counted twice — the processor hands the tally
here. Owns nothing; the metric definitions are :mod:`runtime.metrics`'s.
"""

from __future__ import annotations

from runtime.metrics import (
    ATTEMPTS_FAILED,
    INVOCATIONS_COMPLETED,
    INVOCATIONS_INVOKED,
    JOURNAL_ENTRIES,
    PARTITION_APPLY_DURATION,
    PARTITION_BATCH_RECORDS,
    SUBSCRIPTION_RECORDS,
    labelled,
)
from runtime.partition.effects import Tally


def applied(tally: Tally, records_in_batch: int, apply_seconds: float) -> None:
    """A batch of ``records_in_batch`` records was applied in ``apply_seconds``."""
    PARTITION_BATCH_RECORDS.observe(records_in_batch)
    PARTITION_APPLY_DURATION.observe(apply_seconds)
    for t in tally.invoked:
        labelled(INVOCATIONS_INVOKED, t.service, t.handler).inc()
    for t, ok in tally.completed:
        outcome = "success" if ok else "failure"
        labelled(INVOCATIONS_COMPLETED, t.service, t.handler, outcome).inc()
    for t in tally.attempts_failed:
        labelled(ATTEMPTS_FAILED, t.service, t.handler).inc()
    if tally.journal_entries:
        JOURNAL_ENTRIES.inc(tally.journal_entries)


def subscription_records(subscription_id: str, count: int) -> None:
    """``count`` source records of a subscription became Invokes of this partition."""
    labelled(SUBSCRIPTION_RECORDS, subscription_id).inc(count)
