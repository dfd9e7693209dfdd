"""The partition machine's named-signal transition: a ``records.Signal`` arrives.

A named signal (``ctx.resolve_signal`` / ``reject_signal``) is journaled as a
``NamedSignal`` notification of its target invocation when it arrives, whatever the
invocation is doing: the SDK pairs the k-th signal of a name with the k-th
``ctx.signal(name)`` of the handler (``sdk._machine``), so a signal that arrives
first waits in the journal. A suspended invocation that waits for a named signal
(``SIGNAL_WAKE`` among what it awaits) resumes; a running attempt is notified. A
signal for an invocation that is completed or unknown here is dropped, as Restate
does (``docs/signals.md``). Pure like the machine; may not touch other record kinds.
"""

from __future__ import annotations

import logging

from runtime.log import records
from runtime.partition import journal as J
from runtime.partition.effects import Batch, Notify
from runtime.partition.lifecycle import InvocationLifecycle
from runtime.partition.status import InvocationStatus, Status
from runtime.state.store import RPush

log = logging.getLogger("rt.processor")


class SignalTransitions(InvocationLifecycle):
    """How a named signal changes the partition."""

    def _on_signal(self, rec: records.Signal, b: Batch) -> None:
        inv_id = rec.invocation_id
        st = self.active.get(inv_id)
        if st is None:
            log.info(
                "partition %d: signal %r for %s dropped: the invocation is completed or unknown",
                self.partition, rec.name, inv_id,
            )  # fmt: skip
            return
        if rec.id:
            if rec.id in st.signal_ids:
                return  # sent again (an outbox re-send after a take-over)
            st.signal_ids.append(rec.id)
        blob = J.signal_entry(rec.name, rec.value, rec.failure, rec.id)
        b.ops.append(RPush(self.keys.journal(inv_id), [blob]))
        self.unseen.journaled(inv_id, st.journal_len, blob)
        st.journal_len += 1
        if st.status is Status.SUSPENDED and J.SIGNAL_WAKE in st.awaiting:
            st.move(Status.INVOKED, self._now)
            st.awaiting = []
            self._restart(st, b)
            return
        if J.SIGNAL_WAKE not in st.completed:
            # A suspension the attempt decided before it saw this signal resumes at once.
            st.completed.append(J.SIGNAL_WAKE)
        self._save(st, b)
        if st.status is Status.INVOKED:
            b.effects.append(Notify(inv_id, st.attempt, blob))


def take_signal_mark(st: InvocationStatus) -> bool:
    """Whether a named signal was journaled since the invocation last suspended; forgets it
    (the next attempt reads every signal journaled so far)."""
    if J.SIGNAL_WAKE in st.completed:
        st.completed.remove(J.SIGNAL_WAKE)
        return True
    return False
