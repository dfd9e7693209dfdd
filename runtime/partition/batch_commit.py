"""The partition machine's ``BatchCommit`` transition: a batch of attempts, applied.

Batched execution (ADR 0020) runs many attempts in process and writes what they
did as one :class:`records.BatchCommit`. Each item is exactly the
``AppendJournal`` (and, for a failed attempt, the ``AttemptFailed``) its attempt
would have appended on the normal path, so it is applied by the same
transitions, with the same rules: only the current attempt of an invoked
invocation counts, entries racing a notification are reordered or replayed.

One rule is added, for an item whose attempt ran after another item's clean end
on the state that one ended with (``after``): it counts only if applying that
item, in this record, handed this invocation its key's lock. Then the lock holder
ended cleanly with the state the attempt ran on (only the holder writes a key's
state), and the attempt number is the one the log gives after a clean end (ADR
0013). Otherwise (the predecessor was killed, failed or replayed, another call
was queued in between) the attempt ran on a state that never was and is ignored;
the invocation starts again when it gets the lock. Decided by the log alone:
whoever applies the record decides the same.

Pure like the machine. May not touch what other record kinds do.
"""

from __future__ import annotations

from runtime.log import records
from runtime.partition.effects import Batch
from runtime.partition.journaling import JournalTransitions
from runtime.partition.status import Status


class BatchCommitTransitions(JournalTransitions):
    """How a ``BatchCommit`` changes the partition."""

    def _on_attempt_failed(self, rec: records.AttemptFailed, b: Batch) -> None:
        raise NotImplementedError  # the machine's

    def _on_batch_commit(self, rec: records.BatchCommit, b: Batch) -> None:
        if rec.epoch < self.leader_epoch:
            return  # a deposed owner's batch
        handed: dict[int, str] = {}
        """Item index -> the invocation its clean end handed its key's lock to."""
        active = self.active
        for i, item in enumerate(rec.items):
            inv_id = item.invocation_id
            if item.after >= 0 and handed.get(item.after) != inv_id:
                continue
            st = active.get(inv_id)
            if st is None or st.status is not Status.INVOKED or st.attempt != item.attempt:
                continue  # not the current attempt (killed, cancelled, replayed meanwhile)
            if item.entries:
                self._on_journal(
                    records.AppendJournal(
                        inv_id, rec.epoch, item.attempt, item.entries, item.start
                    ),
                    b,
                )
            failure = item.failure
            if failure is not None:
                self._on_attempt_failed(
                    records.AttemptFailed(
                        inv_id,
                        rec.epoch,
                        item.attempt,
                        failure.code,
                        failure.message,
                        failure.retry_at_ms,
                        failure.pause,
                        failure.detail,
                    ),
                    b,
                )
            elif inv_id not in active and st.takes_lock:  # it completed
                ok = st.object_key
                holder = self.locks.get(ok) if ok is not None else None
                if holder is not None:
                    handed[i] = holder
