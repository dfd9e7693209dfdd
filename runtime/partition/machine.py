"""The partition machine: log records in, Redis ops and effects out. Pure: no I/O.

One partition of ``rt.log`` is a total order of commands of the invocation
state machine. The machine holds the partition's in-memory view (active
invocations, locks and inboxes per object key, the input entries of calls not
started yet, the notifications an attempt may not have seen, speculations,
promise and object-state caches) and computes, record by record in log order,
the Redis ops that make the transition durable and the effects to run once
they are applied (:mod:`runtime.partition.effects`). The processor
(``runtime.partition.processor``) is its I/O shell: it decodes records,
prefetches what the transitions need from Redis (:mod:`runtime.partition.prefetch`),
applies the ops atomically and runs the effects.

No asyncio, no clock of its own (``now_ms`` is given per batch), no Redis:
golden tests (``tests/unit/partition/golden``) drive it with a record log and
compare what comes out. See ``docs/decisions/0015-partition-machine.md``.

Owns the view and every transition; may not run an effect, read Redis, or
know who runs handlers.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence

import msgspec

from runtime.log import records
from runtime.log.producer import partition_of_invocation
from runtime.log.records import InvocationSource, TargetKind
from runtime.log.routing import routing_key_of
from runtime.partition import history
from runtime.partition import journal as J
from runtime.partition.answers import ResponseStatus
from runtime.partition.batch_commit import BatchCommitTransitions
from runtime.partition.cron import CronChanges
from runtime.partition.effects import AbortAttempt, Batch, BecomeLeader, EgressApplied, Respond
from runtime.partition.lifecycle import (
    ANSWER_GRACE_MS,
    BatchExpander,
    Completed,
    DeadLetterFormat,
    InvocationLifecycle,
    TimerIndex,
)
from runtime.partition.pausing import apply_pause, apply_resume
from runtime.partition.pinning import apply_pin
from runtime.partition.restarts import seed_journal
from runtime.partition.signals import SignalTransitions, take_signal_mark
from runtime.partition.speculation import SET_STATE_HANDLER
from runtime.partition.status import InvocationStatus, Outcome, Status
from runtime.partition.timer import Timer, TimerKind
from runtime.partition.timer import timer_decoder as _timer_dec
from runtime.state.store import Delete, HDel, HSet, RPush, ZRem

__all__ = [
    "ANSWER_GRACE_MS",
    "BatchExpander",
    "Completed",
    "DeadLetterFormat",
    "InvocationLifecycle",
    "PartitionMachine",
    "TimerIndex",
    "retention_target",
]

log = logging.getLogger("rt.processor")


class PartitionMachine(BatchCommitTransitions, SignalTransitions):
    """The state machine of one partition, over its in-memory view.

    Built in layers: ``lifecycle.InvocationLifecycle`` (the view; starting,
    completing, handing a lock over), ``journaling.JournalTransitions`` (an attempt's
    entries), ``batch_commit.BatchCommitTransitions`` (a batch of attempts), and here
    the other record kinds and the batch. Takes the arguments of
    ``InvocationLifecycle``.
    """

    def expand(self, offset: int, rec: records.SubscriptionBatch) -> list[records.Invoke]:
        """The Invokes of a subscription batch that belong to this partition."""
        try:
            expanded = self.expand_batch(rec, self.partitions)
        except ValueError as e:  # intake dead-letters such records: never in a batch
            log.error(
                "partition %d offset %d: bad subscription batch: %s", self.partition, offset, e
            )
            return []
        out: list[records.Invoke] = []
        for part, inv in expanded:
            if part != self.partition:  # would be owned by the wrong partition: never run it
                log.error(
                    "partition %d offset %d: %s belongs to partition %d, skipped",
                    self.partition, offset, inv.invocation_id, part,
                )  # fmt: skip
                continue
            out.append(inv)
        return out

    # ------------------------------------------------------------------ a batch

    def apply(
        self, decoded: Sequence[tuple[int, records.Record]], completed: Completed, now_ms: int
    ) -> Batch:
        """Compute the transitions of ``decoded`` (log order; several may share an offset).

        Args:
            decoded: (offset, record) pairs, subscription batches already expanded.
            completed: Prefetched statuses of the invocations the records name that are
                not active (see ``runtime.partition.prefetch``); invocations completing
                in this batch join it, so a later Attach or duplicate Invoke of the same
                batch still finds them.
            now_ms: The clock for this batch.

        Returns:
            The ops to apply atomically and the effects to run after them.
        """
        b = Batch()
        self._completed = completed
        self._now = now_ms
        self._offset = -1
        for offset, rec in decoded:
            if offset != self._offset:  # a batch record's Invokes number their emits on
                self._offset, self._emits = offset, 0
            self._apply_record(rec, b)
        if b.tally.completed:
            b.ops.append(history.trim(self.keys, now_ms))
        return b

    def _apply_record(self, rec: records.Record, b: Batch) -> None:
        match rec:
            case records.AnnounceLeader():
                self._on_announce(rec, b)
            case records.Invoke():
                self._on_invoke(rec, b)
            case records.AppendJournal():
                if rec.epoch >= self.leader_epoch:
                    self._on_journal(rec, b)
            case records.PinDeployment():
                if rec.epoch >= self.leader_epoch:
                    apply_pin(self, rec, b)
            case records.Complete():
                self._on_complete(
                    rec.invocation_id, rec.index, rec.value, rec.failure, b, awakeable=rec.awakeable
                )
            case records.Suspend():
                if rec.epoch >= self.leader_epoch:
                    self._on_suspend(rec, b)
            case records.AttemptFailed():
                if rec.epoch >= self.leader_epoch:
                    self._on_attempt_failed(rec, b)
            case records.TimerFired():
                if rec.epoch >= self.leader_epoch:
                    self._on_timer(rec.timer_id, b)
            case records.Attach():
                self._on_attach(rec, b)
            case records.Kill():
                self._on_kill(rec.invocation_id, "killed", b)
            case records.Cancel():
                self._on_cancel(rec.invocation_id, b)
            case records.Purge():
                self._on_purge(rec.invocation_id, b)
            case records.SetObjectState():
                self._on_set_state(rec, b)
            case records.CronSchedule():
                self._apply_cron(self.cron.schedule(rec.job), b)
            case records.CronDelete():
                self._apply_cron(self.cron.delete(rec.job_id), b)
            case records.AttachInvocation():
                self._on_attach_invocation(rec, b)
            case records.EgressDone():
                self._on_egress_done(rec, b)
            case records.BatchCommit():
                self._on_batch_commit(rec, b)
            case records.Pause():
                apply_pause(self, rec, b)
            case records.Resume():
                apply_resume(self, rec, b)
            case records.RestartAsNew():
                self._on_invoke(rec.invoke, b, rec)
            case records.Signal():
                self._on_signal(rec, b)

    # ------------------------------------------------------------------ transitions

    def _on_announce(self, rec: records.AnnounceLeader, b: Batch) -> None:
        if rec.epoch <= self.leader_epoch and rec.epoch != self.epoch:
            return
        self.leader_epoch = max(self.leader_epoch, rec.epoch)
        b.ops.append(HSet(self.keys.meta, "leader", str(self.leader_epoch).encode()))
        if rec.epoch == self.epoch:
            b.effects.append(BecomeLeader())

    def _on_invoke(
        self, rec: records.Invoke, b: Batch, restart: records.RestartAsNew | None = None
    ) -> None:
        inv_id = rec.invocation_id
        existing = self.active.get(inv_id) or self._completed.get(inv_id)
        if existing is not None:
            self._on_duplicate_invoke(rec, existing, b)
            return
        now = self._now
        st = InvocationStatus(
            invocation_id=inv_id,
            target=rec.target,
            status=Status.SCHEDULED,
            created_ms=rec.created_at_ms or now,
            modified_ms=now,
            source=rec.source,
            idempotency_key=rec.idempotency_key,
            headers=dict(rec.headers),
            ingress_sinks=[rec.ingress_sink] if rec.ingress_sink and not rec.send else [],
            caller=rec.caller,
            send=rec.send,
            execute_at_ms=rec.execute_at_ms,
            parent_id=rec.parent_id,
            dlq=rec.dlq,
            restarted_from=restart.restarted_from if restart is not None else None,
            deployment=restart.deployment if restart is not None else None,
        )
        self.active[inv_id] = st
        b.tally.invoked.append(rec.target)
        b.ops.append(HSet(self.keys.active, inv_id, b"1"))
        input_blob = J.input_entry(rec.headers, rec.input)
        kept = restart.journal if restart is not None else []
        b.ops.append(RPush(self.keys.journal(inv_id), [input_blob, *kept]))
        st.journal_len = 1
        st.commands = 1
        if kept:  # restarted from a journal prefix: its first attempt replays it
            seed_journal(st, kept)
        else:
            self.first_journal[inv_id] = input_blob
        if rec.send and rec.ingress_sink is not None:
            b.effects.append(Respond(rec.ingress_sink, inv_id, status=ResponseStatus.ACCEPTED))
        if rec.execute_at_ms is not None and rec.execute_at_ms > now:
            self._add_timer(Timer(TimerKind.SCHEDULED, inv_id), rec.execute_at_ms, b)
            self._save(st, b)
            return
        self._enqueue(st, b)

    def _on_duplicate_invoke(self, rec: records.Invoke, st: InvocationStatus, b: Batch) -> None:
        """The invocation exists already (deterministic id): deduplicate, as Restate does.

        An ingress caller gets ``duplicate_run`` (a workflow's run), ``previously_accepted``
        (a send), the stored result, or joins the invocation's callers. A calling handler
        gets 409 (a workflow's run), the stored result, or is attached: it gets the result
        when the invocation completes, as with ``ctx.attach_invocation``. The invocation's
        own caller (its Invoke sent again after a take-over) is not answered twice.
        """
        changed = False
        sink = rec.ingress_sink
        if sink is not None:
            if rec.target.kind == TargetKind.WORKFLOW and not rec.send:
                b.effects.append(
                    Respond(sink, st.invocation_id, status=ResponseStatus.DUPLICATE_RUN)
                )
            elif rec.send:
                b.effects.append(
                    Respond(sink, st.invocation_id, status=ResponseStatus.PREVIOUSLY_ACCEPTED)
                )
            elif st.status is Status.COMPLETED:
                b.effects.append(Respond(sink, st.invocation_id, st.outcome))
            else:
                st.ingress_sinks.append(sink)
                changed = True
        caller = rec.caller
        if caller is not None and caller != st.caller and not rec.send:
            if rec.target.kind == TargetKind.WORKFLOW:
                failure = records.Failure(409, "the workflow method was already invoked")
                self._send_completion(caller, Outcome(failure=failure), b)
            elif st.status is Status.COMPLETED and st.outcome is not None:
                self._send_completion(caller, st.outcome, b)
            elif caller not in st.attachers:
                st.attachers.append(caller)
                changed = True
        if changed:
            self._save(st, b)

    def _enqueue(self, st: InvocationStatus, b: Batch) -> None:
        """SCHEDULED -> INBOXED (key locked) or INVOKED (lock taken / no lock needed)."""
        ok = st.object_key
        if st.takes_lock and ok is not None:
            self.inbox_seq += 1
            st.inbox_seq = self.inbox_seq
            if ok in self.locks:
                st.move(Status.INBOXED, self._now)
                self.inboxes.setdefault(ok, deque()).append(st.invocation_id)
                self._save(st, b)
                return
            self.locks[ok] = st.invocation_id
        self._invoke(st, b)

    def _on_suspend(self, rec: records.Suspend, b: Batch) -> None:
        st = self.active.get(rec.invocation_id)
        if st is None or st.attempt != rec.attempt or st.status is not Status.INVOKED:
            return
        signalled = take_signal_mark(st) and J.SIGNAL_WAKE in rec.awaiting
        if signalled or any(i in st.completed for i in rec.awaiting) or not rec.awaiting:
            # Completed while the attempt was deciding to suspend: resume at once.
            self._restart(st, b)
            return
        st.move(Status.SUSPENDED, self._now)
        st.awaiting = list(rec.awaiting)
        self._save(st, b)

    def _on_attempt_failed(self, rec: records.AttemptFailed, b: Batch) -> None:
        st = self.active.get(rec.invocation_id)
        if st is None or st.attempt != rec.attempt or st.status is not Status.INVOKED:
            return
        self._drop_speculations_after(st.invocation_id, b)
        st.last_failure = records.Failure(rec.code, rec.message)
        detail = rec.detail or records.FailureDetail()
        st.last_failure_detail = msgspec.structs.replace(detail, journal_len=st.journal_len)
        st.retry_count += 1
        b.tally.attempts_failed.append(st.target)
        if rec.retry_at_ms is None and rec.pause:
            st.move(Status.PAUSED, self._now)
            self._save(st, b)
            return
        if rec.retry_at_ms is None:
            self._complete(st, Outcome(failure=records.Failure(rec.code, rec.message)), b)
            return
        st.move(Status.BACKING_OFF, self._now)
        st.retry_at_ms = rec.retry_at_ms
        self._save(st, b)
        retry = Timer(TimerKind.RETRY, st.invocation_id, attempt=st.attempt)
        self._add_timer(retry, rec.retry_at_ms, b)

    def _on_timer(self, member: bytes, b: Batch) -> None:
        if not self.timers.take(member):
            return  # already fired (a duplicate TimerFired)
        b.ops.append(ZRem(self.keys.timers, member))
        timer = _timer_dec.decode(member)
        if timer.kind == TimerKind.CRON:
            self._apply_cron(self.cron.tick(timer, self._now), b)
            return
        st = self.active.get(timer.invocation_id)
        if timer.kind == TimerKind.RETENTION:
            done = self._completed.get(timer.invocation_id)
            # ``index`` carries the completion time: a timer of an earlier, already
            # purged run of the same workflow id never purges a newer run.
            if done is not None and done.completed_ms == timer.index:
                self._purge_workflow(done, b)
            return
        if st is None:
            return
        if timer.kind == TimerKind.SLEEP:
            self._on_complete(st.invocation_id, timer.index, b"", None, b)
        elif (
            timer.kind == TimerKind.RETRY
            and st.status is Status.BACKING_OFF
            and st.attempt == timer.attempt
        ):
            st.move(Status.INVOKED, self._now)
            st.retry_at_ms = None
            self._restart(st, b)
        elif timer.kind == TimerKind.SCHEDULED and st.status is Status.SCHEDULED:
            self._enqueue(st, b)

    def _on_attach(self, rec: records.Attach, b: Batch) -> None:
        st = self.active.get(rec.invocation_id) or self._completed.get(rec.invocation_id)
        sink = rec.sink
        if st is None:
            b.effects.append(Respond(sink, rec.invocation_id, status=ResponseStatus.NOT_FOUND))
        elif st.status is Status.COMPLETED:
            b.effects.append(Respond(sink, rec.invocation_id, st.outcome))
        elif rec.peek:
            b.effects.append(Respond(sink, rec.invocation_id, status=ResponseStatus.NOT_READY))
        else:
            st.ingress_sinks.append(sink)
            self._save(st, b)

    def _on_kill(self, inv_id: str, message: str, b: Batch) -> None:
        st = self.active.get(inv_id)
        if st is None:
            return
        if st.status is Status.INBOXED and st.object_key is not None:
            q = self.inboxes.get(st.object_key)
            if q is not None and inv_id in q:
                q.remove(inv_id)
        # As Restate: a kill also kills the callees of calls still waiting for their result.
        for callee in st.calls.values():
            part = partition_of_invocation(callee, self.partitions)
            self._outbox(part, callee.encode(), records.Kill(callee), b)
        st.calls = {}
        b.effects.append(AbortAttempt(inv_id))
        self._complete(st, Outcome(failure=records.Failure(409, message)), b)

    def _on_cancel(self, inv_id: str, b: Batch) -> None:
        st = self.active.get(inv_id)
        if st is None:
            return
        if st.status in (Status.INBOXED, Status.SCHEDULED):
            self._on_kill(inv_id, "cancelled", b)  # never started: nothing to compensate
            return
        if st.cancel_requested:
            return
        st.cancel_requested = True
        # Delivered as the built-in cancel notification; the handler sees it at its next await
        # (and its SDK cancels the calls it waits on, which propagates down the call chain).
        self._on_complete(inv_id, J.CANCEL_INDEX, None, records.Failure(409, "cancelled"), b)
        if st.status in (Status.BACKING_OFF, Status.PAUSED):
            # Retry now rather than at the backoff time, so the compensations run promptly.
            st.move(Status.INVOKED, self._now)
            st.retry_at_ms = None
            self._restart(st, b)

    def _on_purge(self, inv_id: str, b: Batch) -> None:
        if not inv_id:
            return
        st = self._completed.get(inv_id)
        if st is not None and st.status is Status.COMPLETED:
            if st.target.kind == TargetKind.WORKFLOW:
                self._purge_workflow(st, b)
                return
            b.ops.append(Delete(self.keys.inv(inv_id)))
            b.ops.append(Delete(self.keys.journal(inv_id)))
            b.ops.extend(history.forgotten(self.keys, inv_id))
            self._completed[inv_id] = None  # later records of this batch see it gone

    def _purge_workflow(self, st: InvocationStatus, b: Batch) -> None:
        """Forget a completed workflow run with its state and promises (retention over).

        A later ``run`` for the same id then starts afresh, as in Restate after purge.
        """
        inv_id = st.invocation_id
        b.ops.append(Delete(self.keys.inv(inv_id)))
        b.ops.append(Delete(self.keys.journal(inv_id)))
        b.ops.extend(history.forgotten(self.keys, inv_id))
        self._completed[inv_id] = None  # later records of this batch see it gone
        ok = st.object_key
        if ok is None:
            return
        b.ops.append(Delete(self.keys.state(*ok)))
        b.ops.append(Delete(self.keys.promise(*ok)))
        self.states.drop(ok)
        b.state_keys.add(ok)
        self.promises.purge(ok, b.ops)

    def _on_attach_invocation(self, rec: records.AttachInvocation, b: Batch) -> None:
        """A handler attaches to (or peeks at) an invocation of this partition."""
        st = self.active.get(rec.invocation_id) or self._completed.get(rec.invocation_id)
        caller = rec.caller
        if st is None:
            failure = records.Failure(404, "invocation not found")
            self._send_completion(caller, Outcome(failure=failure), b)
        elif st.status is Status.COMPLETED and st.outcome is not None:
            self._send_completion(caller, st.outcome, b)
        elif rec.peek:
            self._send_completion(caller, Outcome(), b)  # Void: not completed yet
        elif caller not in st.attachers:
            st.attachers.append(caller)
            self._save(st, b)

    def _on_set_state(self, rec: records.SetObjectState, b: Batch) -> None:
        """Admin state replacement, queued behind the key's lock like an exclusive invocation."""
        now = self._now
        inv_id = f"setstate-{self.partition}-{now}-{self.inbox_seq}"
        st = InvocationStatus(
            invocation_id=inv_id,
            target=records.Target(rec.service, SET_STATE_HANDLER, rec.key, TargetKind.EXCLUSIVE),
            status=Status.SCHEDULED,
            created_ms=now,
            modified_ms=now,
            source=InvocationSource.ADMIN,
            state_update=dict(rec.state),
        )
        self.active[inv_id] = st
        b.ops.append(HSet(self.keys.active, inv_id, b"1"))
        self._enqueue(st, b)

    def _on_egress_done(self, rec: records.EgressDone, b: Batch) -> None:
        self.egress.done(rec.fields)
        for field_ in rec.fields:
            b.ops.append(HDel(self.keys.egress, field_))
        b.effects.append(EgressApplied(rec.token))

    def _apply_cron(self, ch: CronChanges, b: Batch) -> None:
        """A cron definition change or tick: state, timers and the tick's Invoke, atomically."""
        b.ops.extend(ch.ops)
        for member in ch.disarm:
            self.timers.discard(member)
            b.ops.append(ZRem(self.keys.timers, member))
        for timer, due in ch.arm:
            self._add_timer(timer, due, b)
        if ch.invoke is not None:
            inv = ch.invoke
            part = partition_of_invocation(inv.invocation_id, self.partitions)
            self._outbox(part, routing_key_of(inv.target, inv.invocation_id), inv, b)


def retention_target(member: bytes) -> str | None:
    """The workflow run a retention timer purges (its status is needed to find its key)."""
    try:
        timer = _timer_dec.decode(member)
    except msgspec.DecodeError:
        return None
    return timer.invocation_id if timer.kind == TimerKind.RETENTION else None
