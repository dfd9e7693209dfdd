"""What a partition processor reports to the node's metrics and traces after each apply.

The machine tallies what a batch did (:class:`~runtime.partition.effects.Tally`,
data); once the batch is applied — and only if it was not applied before, so a
re-delivered record is never counted twice — the processor hands the tally
here. Owns nothing; the metric definitions are :mod:`runtime.metrics`'s.
"""

from __future__ import annotations

from runtime import tracing
from runtime.metrics import (
    ATTEMPTS_FAILED,
    FOREIGN_RECORDS,
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
    for st in tally.completed:
        t = st.target
        failure = st.outcome.failure if st.outcome is not None else None
        outcome = "success" if failure is None else "failure"
        labelled(INVOCATIONS_COMPLETED, t.service, t.handler, outcome).inc()
        if tracing.enabled():
            tracing.invocation_completed(
                st.invocation_id,
                t.service,
                t.handler,
                t.key,
                st.headers,
                st.created_ms,
                st.completed_ms or st.modified_ms,
                (failure.code, failure.message) if failure is not None else None,
            )
    for t in tally.attempts_failed:
        labelled(ATTEMPTS_FAILED, t.service, t.handler).inc()
    if tally.journal_entries:
        JOURNAL_ENTRIES.inc(tally.journal_entries)


def subscription_records(subscription_id: str, count: int) -> None:
    """``count`` source records of a subscription became Invokes of this partition."""
    labelled(SUBSCRIPTION_RECORDS, subscription_id).inc(count)


def foreign_record(partition: int) -> None:
    """A record that is not rt's was skipped on the partition's rt.log."""
    labelled(FOREIGN_RECORDS, str(partition)).inc()
