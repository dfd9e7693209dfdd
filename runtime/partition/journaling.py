"""The partition machine's journal transition: an attempt's entries, applied.

An ``AppendJournal`` of the current attempt is written to the invocation's
journal (reordered after notifications the attempt had not seen, or dropped
for a replay when that cannot be done: :mod:`runtime.partition.reorder`), and
each entry's partition-side effect follows: state writes, calls and sends
through the outbox, timers, promises, awakeables, attaches, lazy state reads,
egress records, and the Output that completes the invocation. Pure like the
machine. May not touch what other record kinds do.
"""

from __future__ import annotations

from typing import Any

from runtime.log import records
from runtime.log.producer import partition_of_invocation
from runtime.log.routing import routing_key_of
from runtime.partition import journal as J
from runtime.partition.effects import AbortAttempt, AttemptApplied, Batch, QueueEgress
from runtime.partition.egress_outbox import EgressItem, encode_item, position_field
from runtime.partition.lifecycle import InvocationLifecycle
from runtime.partition.promises import ALREADY_COMPLETED
from runtime.partition.status import InvocationStatus, Outcome, Status
from runtime.partition.timer import Timer, TimerKind
from runtime.state.store import Delete, HDel, HSet, LTrim, RPush
from runtime.trace_context import TRACEPARENT, for_callee


class JournalTransitions(InvocationLifecycle):
    """How an attempt's ``AppendJournal`` changes the partition."""

    def _on_journal(self, rec: records.AppendJournal, b: Batch) -> None:
        st = self.active.get(rec.invocation_id)
        if st is None or st.attempt != rec.attempt or st.status is not Status.INVOKED:
            return  # a stale attempt's late entries: the journal only grows from the current one
        inv_id = st.invocation_id
        tail: list[bytes] = []
        if rec.start >= 0 and rec.start != st.journal_len:
            unseen = self.unseen.since(inv_id, rec.start, st.journal_len)
            if unseen is None:
                # The log's order cannot be made the attempt's: drop the entries and
                # replay from the log's order (a ctx.run among them runs again).
                b.effects.append(AbortAttempt(inv_id))
                self._restart(st, b)
                return
            # Notifications were journaled while the attempt produced these entries; it
            # sees them only after its entries (they wait in its inbox). Put them after
            # the entries, so the journal is exactly what the attempt saw and a ctx.run
            # result among the entries stays journaled (never executed twice).
            b.ops.append(LTrim(self.keys.journal(inv_id), 0, rec.start - 1))
            tail = [blob for _, blob in unseen]
            st.journal_len = rec.start
        else:
            self.unseen.forget(inv_id)  # all seen: none before rec.start
        b.ops.append(RPush(self.keys.journal(inv_id), [*rec.entries, *tail]))
        b.tally.journal_entries += len(rec.entries)
        # All entries take their journal positions first: completions the machine
        # produces for them (lazy state, promises) come after them, as in Redis.
        indexed = []
        for blob in rec.entries:
            entry = J.decode(blob)
            index = st.commands if J.is_command(entry) else -1
            if index >= 0:
                st.commands += 1
            elif isinstance(entry, J.Completion):
                st.completed.append(entry.command_index)
            st.journal_len += 1
            indexed.append((entry, index))
        if tail:
            self.unseen.reordered(
                inv_id, [(st.journal_len + i, blob) for i, blob in enumerate(tail)]
            )
            st.journal_len += len(tail)
        done: Outcome | None = None
        for entry, index in indexed:
            out = self._apply_entry(st, entry, index, b)
            if out is not None:
                done = out
        if done is not None:
            self._clean_end = (inv_id, st.attempt)
            try:
                self._complete(st, done, b)
            finally:
                self._clean_end = None
            return
        self._save(st, b)
        b.effects.append(AttemptApplied(inv_id, st.attempt, st.journal_len))

    def _apply_entry(
        self, st: InvocationStatus, entry: Any, index: int, b: Batch
    ) -> Outcome | None:
        """Partition-side effects of one journal entry; returns the outcome for Output."""
        fx = J.effect_of(entry)
        ok = st.object_key
        match fx:
            case J.SetState(key=k, value=v) if ok is not None:
                b.ops.append(HSet(self.keys.state(*ok), k, v))
                self.states.set_key(ok, k, v)
                b.state_keys.add(ok)
            case J.ClearState(key=k) if ok is not None:
                b.ops.append(HDel(self.keys.state(*ok), k))
                self.states.clear_key(ok, k)
                b.state_keys.add(ok)
            case J.ClearAllState() if ok is not None:
                b.ops.append(Delete(self.keys.state(*ok)))
                self.states.replace(ok, {})
                b.state_keys.add(ok)
            case J.Output(outcome=outcome):
                return outcome
            case J.CallOrSend():
                self._on_call(st, fx, index, b)
            case J.Sleep(wake_up_ms=wake):
                self._add_timer(Timer(TimerKind.SLEEP, st.invocation_id, index), wake, b)
            case J.CompleteAwakeable(target_id=tid, target_index=tix, value=v, failure=f):
                rec = records.Complete(tid, tix, value=v, failure=f, awakeable=True)
                self._outbox(partition_of_invocation(tid, self.partitions), tid.encode(), rec, b)
            case J.SendSignal(target_id=tid, name=name, value=v, failure=f) if (
                J.valid_invocation_id(tid)
            ):
                signal = records.Signal(tid, name, v, f, id=f"{st.invocation_id}/{index}")
                part = partition_of_invocation(tid, self.partitions)
                self._outbox(part, tid.encode(), signal, b)
            case J.CancelInvocation(target_id=tid) if J.valid_invocation_id(tid):
                part = partition_of_invocation(tid, self.partitions)
                self._outbox(part, tid.encode(), records.Cancel(tid), b)
            case J.GetPromise(name=name) | J.PeekPromise(name=name) if (
                ok is not None and self.promises.known(ok)
            ):
                peek = isinstance(fx, J.PeekPromise)
                got = self.promises.read(ok, name, peek, (st.invocation_id, index), b.ops)
                if got is not None:
                    self._on_complete(st.invocation_id, index, got.value, got.failure, b)
            case J.CompletePromise(name=name, value=v, failure=f) if (
                ok is not None and self.promises.known(ok)
            ):
                self._on_promise_complete(st, ok, name, index, Outcome(v, f), b)
            case J.GetState(key=k) if ok is not None and self.services.lazy_state(st):
                value = (self.states.get(ok) or {}).get(k)
                self._on_complete(st.invocation_id, index, value, None, b)
            case J.GetStateKeys() if ok is not None and self.services.lazy_state(st):
                keys = list(self.states.get(ok) or {})
                blob = J.state_keys_entry(index, keys)
                self._on_complete(st.invocation_id, index, None, None, b, blob=blob)
            case J.Awakeable():
                st.awakeables.append(index)
            case J.AttachInvocation(target_id=tid, peek=peek):
                try:
                    part = partition_of_invocation(tid, self.partitions)
                except J.InvalidIdError as e:
                    failure = records.Failure(400, str(e))
                    self._on_complete(st.invocation_id, index, None, failure, b)
                    return None
                caller = records.CallerSink(st.invocation_id, index)
                self._outbox(part, tid.encode(), records.AttachInvocation(tid, caller, peek), b)
            case J.Emit():
                self._on_emit(st, fx, b)
            case _:
                pass
        return None

    def _on_call(self, st: InvocationStatus, fx: J.CallOrSend, index: int, b: Batch) -> None:
        target = self.services.call_target(fx.service, fx.handler, fx.key)
        if target is None:
            if not fx.send:
                msg = f"service '{fx.service}' handler '{fx.handler}' not found"
                failure = records.Failure(404, msg)
                self._on_complete(st.invocation_id, index, None, failure, b)
            return
        headers = dict(fx.headers)
        if TRACEPARENT not in headers and TRACEPARENT in st.headers:
            # The callee's span is the child of this invocation's (runtime.trace_context).
            headers[TRACEPARENT] = for_callee(st.invocation_id, st.headers)
        rec = records.Invoke(
            invocation_id=fx.invocation_id,
            target=target,
            input=fx.param,
            headers=headers,
            idempotency_key=fx.idempotency_key,
            source=records.InvocationSource.SERVICE,
            caller=None if fx.send else records.CallerSink(st.invocation_id, index),
            send=fx.send,
            execute_at_ms=fx.invoke_time_ms,
            created_at_ms=self._now,
            parent_id=st.invocation_id,
        )
        if not fx.send:
            st.calls[index] = fx.invocation_id
        part = partition_of_invocation(fx.invocation_id, self.partitions)
        self._outbox(part, routing_key_of(target, fx.invocation_id), rec, b)

    def _on_promise_complete(
        self,
        st: InvocationStatus,
        ok: tuple[str, str],
        name: str,
        index: int,
        outcome: Outcome,
        b: Batch,
    ) -> None:
        if not self.promises.complete(ok, name, outcome, b.ops):
            self._on_complete(st.invocation_id, index, None, ALREADY_COMPLETED, b)
            return
        self._on_complete(st.invocation_id, index, b"", None, b)
        for waiter_id, widx in self.promises.take_waiters(ok, name, b.ops):
            self._on_complete(waiter_id, widx, outcome.value, outcome.failure, b)

    def _on_emit(self, st: InvocationStatus, fx: J.Emit, b: Batch) -> None:
        """Journal entry durable and applied: the record joins the egress outbox."""
        item = EgressItem(fx.topic, fx.key, fx.value, fx.headers, st.invocation_id)
        field_ = position_field(self._offset, self._emits)
        self._emits += 1
        b.ops.append(HSet(self.keys.egress, field_, encode_item(item)))
        # Only after the apply: the sender never sees an entry Redis lacks.
        b.effects.append(QueueEgress(field_, item))
