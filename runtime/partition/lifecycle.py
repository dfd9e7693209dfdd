"""The partition machine's base: its view, and how invocations start, end and hand over.

Holds the in-memory view of a partition (see :mod:`runtime.partition.machine`)
and the transitions every record kind shares: journaling a completion,
starting or restarting an attempt, completing an invocation (answers, callers,
retention, dead letters) and passing its key's lock on, with the speculative
hand-off's adopt-or-drop decision (ADR 0013). Pure like the machine: no I/O,
no clock of its own. May not decode records (the machine dispatches them).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Protocol

from runtime.log import records
from runtime.log.producer import partition_of_invocation
from runtime.log.records import TargetKind
from runtime.partition import history
from runtime.partition import journal as J
from runtime.partition.cron import CronJobs
from runtime.partition.effects import (
    AbortAttempt,
    Adopt,
    Answer,
    Batch,
    DeadLetter,
    DropSpeculation,
    Notify,
    Produce,
    StartAttempt,
)
from runtime.partition.egress_outbox import EgressOutbox
from runtime.partition.outbox import outbox_entry
from runtime.partition.promises import Promises
from runtime.partition.reorder import UnseenNotifications
from runtime.partition.services import ServiceCatalog
from runtime.partition.speculation import SET_STATE_HANDLER, SPEC_STEP, Handoff, Speculation
from runtime.partition.state_cache import ObjectStates
from runtime.partition.status import InvocationStatus, Outcome, Status, encode_status
from runtime.partition.timer import Timer, TimerKind
from runtime.partition.timer import timer_encoder as _timer_enc
from runtime.state.keys import PartitionKeys
from runtime.state.store import Delete, HDel, HSet, PExpire, RPush, Set, ZAdd

ANSWER_GRACE_MS = 60_000
"""A completed invocation's status (not its journal) outlives a shorter (even zero) journal
retention by this much: an ingress whose pub/sub answer got lost reads the outcome from it
(its safety net looks every few seconds), and a retention of 0 must not turn a lost
message into a caller that waits forever."""

Completed = dict[str, InvocationStatus | None]
"""Statuses of invocations not active in memory, read for a batch (None: not in Redis)."""


class TimerIndex(Protocol):
    """The in-memory index of the partition's pending timers (``runtime.timers.wheel``).

    Updated while a batch is computed, with the matching ZADD / ZREM in the same apply.
    """

    def add(self, due_ms: int, member: bytes) -> None: ...

    def take(self, member: bytes) -> bool:
        """True exactly once per pending timer (prefetched when not in memory)."""
        ...

    def discard(self, member: bytes) -> None: ...


BatchExpander = Callable[[records.SubscriptionBatch, int], list[tuple[int, records.Invoke]]]
"""The Invokes a subscription batch stands for, each with its partition (given the number of
partitions); raises ``ValueError`` for an entry that cannot be one (``runtime.subscriptions``)."""


class DeadLetterFormat(Protocol):
    """How a failed subscription invocation's dead letter is stored with its completion
    (in the partition's ``dlq`` hash, :attr:`PartitionKeys.dlq`)."""

    def pending(self, st: InvocationStatus, failure: records.Failure) -> tuple[str, bytes]: ...


class InvocationLifecycle:
    """The view of one partition and the transitions all record kinds share.

    Args:
        keys: The partition's Redis keys.
        partitions: Partitions of rt.log (routes records for other partitions).
        services: Lookups in the registry.
        timers: The pending-timer index.
        states: The object-state cache (written through).
        expand_batch: Expands subscription batches into their Invokes.
        dead_letters: Dead-letter format of failed subscription invocations, if any.
    """

    def __init__(
        self,
        keys: PartitionKeys,
        partitions: int,
        services: ServiceCatalog,
        timers: TimerIndex,
        states: ObjectStates,
        expand_batch: BatchExpander,
        dead_letters: DeadLetterFormat | None = None,
    ) -> None:
        self.keys = keys
        self.partition = keys.partition
        self.partitions = partitions
        self.services = services
        self.timers = timers
        self.states = states
        self.expand_batch = expand_batch
        self.dead_letters = dead_letters
        self.epoch = 0
        """This owner's epoch: applying its own AnnounceLeader makes it the leader."""
        self.leader_epoch = 0
        """The highest announced epoch: records of older epochs are dropped."""
        self.active: dict[str, InvocationStatus] = {}
        self.locks: dict[tuple[str, str], str] = {}
        self.inboxes: dict[tuple[str, str], deque[str]] = {}
        self.inbox_seq = 0
        self.first_journal: dict[str, bytes] = {}
        """Input entries of invocations not started yet: saves a journal read on start."""
        self.unseen = UnseenNotifications()
        self.promises = Promises(keys)
        self.handoff = Handoff(
            self.active, self.locks, self.inboxes, self.first_journal, services.lazy_state
        )
        self.cron = CronJobs(keys)
        self.egress = EgressOutbox()
        """Applied egress records not yet written (read by the egress sender)."""
        self._outbox_seq = 0
        # Per batch:
        self._now = 0
        self._completed: Completed = {}
        self._offset = -1
        self._emits = 0
        self._clean_end: tuple[str, int] | None = None
        """(invocation id, attempt) whose Output is being applied, during that apply."""

    # ------------------------------------------------------------------ view

    def restore(self, statuses: Iterable[InvocationStatus], leader_epoch: int) -> None:
        """Take-over: rebuild locks and inboxes from the stored active invocations.

        Locks and inboxes are not stored: exclusive invocations not inboxed hold their
        key, inboxed ones wait in ``inbox_seq`` order.
        """
        self.leader_epoch = leader_epoch
        for st in statuses:
            self.active[st.invocation_id] = st
        for st in sorted(self.active.values(), key=lambda s: s.inbox_seq):
            ok = st.object_key
            if ok is None or not st.takes_lock:
                continue
            self.inbox_seq = max(self.inbox_seq, st.inbox_seq)
            if st.status is Status.INBOXED:
                self.inboxes.setdefault(ok, deque()).append(st.invocation_id)
            elif st.status is not Status.SCHEDULED:
                self.locks[ok] = st.invocation_id

    def attempt_starting(
        self, invocation_id: str, attempt: int
    ) -> tuple[InvocationStatus, list[bytes] | None, list[Speculation]] | None:
        """The processor is about to start ``attempt`` (a ``StartAttempt`` effect, or the
        owner begins to lead).

        Returns:
            None when it is no longer the invocation's current attempt (a later one of
            the same batch starts instead). Otherwise its status, its journal when that
            is only the input (no read needed), and the speculations that assumed the
            invocation's clean end: it runs again, so they must stop before it starts.
        """
        st = self.active.get(invocation_id)
        if st is None or st.status is not Status.INVOKED or st.attempt != attempt:
            return None
        dropped = self.handoff.drop_after(invocation_id)
        first = self.first_journal.pop(invocation_id, None)
        journal = [first] if first is not None and st.journal_len == 1 else None
        return st, journal, dropped

    # ------------------------------------------------------------------ starting and completing

    def _save(self, st: InvocationStatus, b: Batch) -> None:
        b.ops.append(Set(self.keys.inv(st.invocation_id), encode_status(st)))

    def _invoke(self, st: InvocationStatus, b: Batch, step: int = 1) -> None:
        if st.target.handler == SET_STATE_HANDLER:
            self._apply_state_update(st, b)
            return
        st.move(Status.INVOKED, self._now)
        st.attempt += step
        self._save(st, b)
        b.effects.append(StartAttempt(st.invocation_id, st.attempt))

    def _restart(self, st: InvocationStatus, b: Batch) -> None:
        """A new attempt of an invocation that already ran (replay from its journal)."""
        st.attempt += 1
        self._save(st, b)
        b.effects.append(StartAttempt(st.invocation_id, st.attempt))

    def _apply_state_update(self, st: InvocationStatus, b: Batch) -> None:
        ok = st.object_key
        assert ok is not None
        new = st.state_update or {}
        b.ops.append(Delete(self.keys.state(*ok)))
        for k, v in new.items():
            b.ops.append(HSet(self.keys.state(*ok), k, v))
        self.states.replace(ok, dict(new))
        b.state_keys.add(ok)
        st.status = Status.INVOKED
        self._complete(st, Outcome(value=b""), b)

    def _on_complete(
        self,
        inv_id: str,
        index: int,
        value: bytes | None,
        failure: records.Failure | None,
        b: Batch,
        blob: bytes | None = None,
        awakeable: bool = False,
    ) -> None:
        """Journal a completion (a record's, or one the machine produces itself)."""
        st = self.active.get(inv_id)
        if st is None or index in st.completed or st.status is Status.COMPLETED:
            return  # unknown, finished, or a duplicate: first completion wins
        if awakeable and index < st.commands and index not in st.awakeables:
            return  # an awakeable id naming a command that is no awakeable (forged)
        if st.status in (Status.SCHEDULED, Status.INBOXED):
            return
        st.completed.append(index)
        st.calls.pop(index, None)
        if blob is None:
            blob = J.notification_entry(index, value, failure)
        b.ops.append(RPush(self.keys.journal(inv_id), [blob]))
        self.unseen.journaled(inv_id, st.journal_len, blob)
        st.journal_len += 1
        if st.status is Status.SUSPENDED and (index in st.awaiting or index == J.CANCEL_INDEX):
            st.move(Status.INVOKED, self._now)
            st.awaiting = []
            self._restart(st, b)
            return
        self._save(st, b)
        if st.status is Status.INVOKED:
            b.effects.append(Notify(inv_id, st.attempt, blob))

    def _complete(self, st: InvocationStatus, outcome: Outcome, b: Batch) -> None:
        """Finish an invocation: store the outcome, answer everyone, pass the lock on."""
        inv_id = st.invocation_id
        now = self._now
        st.move(Status.COMPLETED, now)
        st.outcome = outcome
        done_ms = st.completed_ms = now
        st.completed = []
        st.awaiting = []
        st.calls = {}
        retention = max(self.services.retention_ms(st), 1)
        st.retention_ms = retention
        self.active.pop(inv_id, None)
        self._completed[inv_id] = st
        self.first_journal.pop(inv_id, None)
        self.unseen.forget(inv_id)
        b.ops.append(HDel(self.keys.active, inv_id))
        if st.target.handler != SET_STATE_HANDLER:
            b.tally.completed.append(st)
        if st.target.handler == SET_STATE_HANDLER:
            b.ops.append(Delete(self.keys.inv(inv_id)))
            b.ops.append(Delete(self.keys.journal(inv_id)))
        elif st.target.kind == TargetKind.WORKFLOW:
            # Kept until the retention timer purges the run together with the
            # workflow's state and promises (a Redis TTL could not clear those).
            self._save(st, b)
            self._add_timer(
                Timer(TimerKind.RETENTION, inv_id, index=done_ms), done_ms + retention, b
            )
            b.ops.extend(history.indexed(self.keys, st, done_ms + retention))
        else:
            self._save(st, b)
            keep = retention if st.idempotency_key is not None else max(retention, ANSWER_GRACE_MS)
            b.ops.append(PExpire(self.keys.inv(inv_id), keep))
            b.ops.append(PExpire(self.keys.journal(inv_id), retention))
            b.ops.extend(history.indexed(self.keys, st, done_ms + keep))
        if st.ingress_sinks:
            b.effects.append(Answer(inv_id, st.ingress_sinks, outcome))
            st.ingress_sinks = []
        if st.caller is not None:
            self._send_completion(st.caller, outcome, b)
        for attacher in st.attachers:
            self._send_completion(attacher, outcome, b)
        st.attachers = []
        dl = self.dead_letters
        if st.dlq is not None and outcome.failure is not None and dl is not None:
            # A failed subscription invocation: its record goes to the DLQ once applied.
            field_, blob = dl.pending(st, outcome.failure)
            b.ops.append(HSet(self.keys.dlq, field_, blob))
            b.effects.append(DeadLetter(field_, blob))
        b.effects.append(AbortAttempt(inv_id))
        self._release_lock(st, b)

    def _release_lock(self, st: InvocationStatus, b: Batch) -> None:
        ok = st.object_key
        if ok is None or not st.takes_lock or self.locks.get(ok) != st.invocation_id:
            return
        del self.locks[ok]
        spec = self.handoff.release(ok)
        clean = self._clean_end is not None and self._clean_end[0] == st.invocation_id
        q = self.inboxes.get(ok)
        while q:
            nxt = self.active.get(q.popleft())
            if nxt is None or nxt.status is not Status.INBOXED:
                continue
            self.locks[ok] = nxt.invocation_id
            if (
                spec is not None
                and spec.invocation_id == nxt.invocation_id
                and spec.pred == self._clean_end
            ):
                self._adopt(nxt, spec, b)
                spec = None
                break
            if spec is not None:  # stopped before the next call of the key starts
                self._drop_speculation(spec, b)
                spec = None
            # After a clean end the next attempt takes the number a speculation would
            # have had (+2), otherwise +1: decided by the log alone, so an owner that
            # replays it after a crash accepts exactly the speculative entries that
            # were valid (ADR 0013).
            self._invoke(nxt, b, step=SPEC_STEP if clean else 1)
            break
        if spec is not None:
            self._drop_speculation(spec, b)
        if q is not None and not q:
            self.inboxes.pop(ok, None)

    # ------------------------------------------------------------------ speculative hand-off

    def _adopt(self, st: InvocationStatus, spec: Speculation, b: Batch) -> None:
        st.move(Status.INVOKED, self._now)
        st.attempt = spec.attempt
        self._save(st, b)
        self.first_journal.pop(st.invocation_id, None)
        b.effects.append(Adopt(st.invocation_id, spec.attempt))

    def _drop_speculation(self, spec: Speculation, b: Batch) -> None:
        """The speculation did not hold: stop it. Its entries carry its attempt number,
        which the call does not take before all of them are applied, so all are rejected:
        queued call, or a number one lower after an unclean hand-off."""
        b.effects.append(DropSpeculation(spec.invocation_id, spec.attempt))

    def _drop_speculations_after(self, pred_id: str, b: Batch) -> None:
        for spec in self.handoff.drop_after(pred_id):
            self._drop_speculation(spec, b)

    # ------------------------------------------------------------------ other partitions, timers

    def _send_completion(self, caller: records.CallerSink, outcome: Outcome, b: Batch) -> None:
        rec = records.Complete(caller.invocation_id, caller.index, outcome.value, outcome.failure)
        part = partition_of_invocation(caller.invocation_id, self.partitions)
        self._outbox(part, caller.invocation_id.encode(), rec, b)

    def _outbox(self, partition: int, key: bytes, rec: records.Record, b: Batch) -> None:
        # Creation order across owners too: the batch's clock in ns, at least one more.
        self._outbox_seq = seq = max(self._outbox_seq + 1, self._now * 1_000_000)
        field_, op = outbox_entry(self.keys, partition, key, rec, seq)
        b.ops.append(op)
        b.effects.append(Produce(field_, partition, key, rec, seq))

    def _add_timer(self, timer: Timer, due_ms: int, b: Batch) -> None:
        member = _timer_enc.encode(timer)
        b.ops.append(ZAdd(self.keys.timers, float(due_ms), member))
        self.timers.add(due_ms, member)
