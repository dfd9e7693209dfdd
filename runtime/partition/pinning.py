"""Pinning an invocation to a deployment: the partition side of ``PinDeployment``.

An invocation runs on the deployment of the first attempt that journals anything,
and on no other after that: the invoker writes a :class:`~runtime.log.records.PinDeployment`
with that attempt's first entries, and applying it records the deployment in the
invocation's status (:attr:`~runtime.partition.status.InvocationStatus.deployment`),
from where every later attempt is handed to the invoker with it. The decision is in
the log, so an owner that replays the log after a crash or a rebalance pins exactly
what the first owner pinned. Pure like the machine; owns this one transition.
"""

from __future__ import annotations

from runtime.log import records
from runtime.partition.effects import Batch
from runtime.partition.journaling import JournalTransitions
from runtime.partition.status import Status


def apply_pin(machine: JournalTransitions, rec: records.PinDeployment, b: Batch) -> None:
    """Pin the invocation (first pin wins), then journal the entries the record carries.

    Records of an attempt that is not the invocation's current one change nothing,
    as for ``AppendJournal``.
    """
    st = machine.active.get(rec.invocation_id)
    if st is None or st.attempt != rec.attempt or st.status is not Status.INVOKED:
        return
    if st.deployment is None:
        st.deployment = rec.deployment_id
    if not rec.entries:
        machine._save(st, b)
        return
    journal = records.AppendJournal(
        rec.invocation_id, rec.epoch, rec.attempt, rec.entries, rec.start
    )
    machine._on_journal(journal, b)  # saves the status, with its pin
