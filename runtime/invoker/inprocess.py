"""The in-process invoker: runs handler attempts with the SDK's driver on the worker's loop.

Implements the partition's :class:`~runtime.partition.contract.Invoker` against
its :class:`~runtime.partition.contract.AttemptHost` (all on one asyncio loop):

- ``start`` — the invocation is INVOKED; build a driver from the journal and run.
- The runner appends the driver's new entries as one ``AppendJournal`` record
  (with the journal position it believes they start at). When the partition has
  applied them it calls ``applied``; only then may ``ctx.run`` results be
  observed (invariant 5) — the driver's ``durable=True``.
- ``notify`` feeds completions the partition journaled, in log order.
- A runner blocked longer than the grace period is evicted: it appends
  ``Suspend(awaiting)`` and frees its memory; the partition re-starts the
  invocation (replay) when an awaited completion arrives.
- A failed attempt appends ``AttemptFailed`` with the next retry time from
  the handler's retry policy (exponential backoff), or none when exhausted.

Timeouts and the retry policy come from the service model
(``Registry.timeouts`` / ``Registry.retry_policy``: handler over service over
the runtime's default, resolved there); the node's ``always_replay`` setting
overrides the timeouts of every handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from runtime import logs, tracing
from runtime.log import records
from runtime.log.records import TargetKind
from runtime.metrics import ATTEMPT_DURATION, labelled
from runtime.partition.batching import InlineEnd
from runtime.partition.contract import Attempt, AttemptHost
from runtime.partition.status import Outcome
from runtime.registry import OnMaxAttempts, Registry, Timeouts
from runtime.settings import Settings
from sdk import engine as sj
from sdk.engine import (
    Blocked,
    Done,
    Failed,
    HandlerDefinition,
    InvocationDescriptor,
    InvocationDriver,
    Progress,
    ServiceDefinition,
)

log = logging.getLogger("rt.invoker")

ENTRY_HEADROOM_BYTES = 64 << 10
"""What a journal entry holds besides its payload (kind, name, framing); an entry within
``max_payload_bytes`` plus this always fits one rt.log record (1 MiB headroom)."""
_ENTRY_WORDS = {
    "OutputCommand": "the handler's output",
    "SetStateCommand": "a state value",
    "Completion": "a ctx.run result",
    "CallCommand": "a call's argument",
    "SendCommand": "a send's argument",
    "CompletePromiseCommand": "a promise value",
    "CompleteAwakeableCommand": "an awakeable value",
    "EmitCommand": "an emitted record",
}
"""How a too-large entry is named to the user, by its kind."""


def abort_limit_s(timeouts: Timeouts) -> float | None:
    """How long one ``advance`` of the handler may run: inactivity timeout + abort
    timeout, or None (no limit) when no abort timeout is set."""
    if timeouts.abort_s is None:
        return None
    return timeouts.inactivity_s + timeouts.abort_s


def random_seed(invocation_id: str) -> int:
    return int.from_bytes(hashlib.sha256(invocation_id.encode()).digest()[:8], "big")


class _Runner:
    def __init__(
        self,
        invoker: InProcessInvoker,
        host: AttemptHost,
        attempt: Attempt,
        handler: HandlerDefinition,
        driver: InvocationDriver | None = None,
    ) -> None:
        self.invoker = invoker
        self.host = host
        self.inv_id = attempt.invocation_id
        self.attempt = attempt.number
        self.spec = attempt
        self.handler = handler
        self.timeouts = invoker.timeouts(attempt.target.service, attempt.target.handler)
        self.adopted = attempt.after is None
        """False while speculative: ``ctx.run`` actions held, no early answer, no
        speculation on its own end."""
        self.release_runs = False
        """Adopted while its driver holds runs: release them at the next wake-up."""
        self.inbox: list[sj.Notification] = []
        self.durable_len = 0
        self.written_len = 0
        self.wakeup = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.driver = driver
        """Built when the attempt starts, or given: started inline, handed over blocked."""

    # Called by the partition (same loop).
    def notify(self, entries: list[bytes]) -> None:
        for blob in entries:
            entry = sj.decode_entry(blob)
            if isinstance(entry, sj.NOTIFICATION_TYPES):
                self.inbox.append(entry)
        self.wakeup.set()

    def applied(self, journal_len: int) -> None:
        self.durable_len = max(self.durable_len, journal_len)
        self.wakeup.set()

    async def run(self) -> None:
        started = time.perf_counter()
        target = self.spec.target
        span = tracing.attempt(
            self.inv_id, target.service, target.handler, target.key, self.attempt, self.spec.headers
        )
        try:
            with span, logs.invocation(self.inv_id, target.text):
                await self._run()
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.exception("attempt %d of %s crashed in the invoker", self.attempt, self.inv_id)
            self._append_failure(500, f"invoker error: {type(e).__name__}: {e}", None)
        finally:
            if self.driver is not None and not self.driver.finished:
                await self.driver.close()
            self.invoker._done(self)
            target = self.spec.target
            labelled(ATTEMPT_DURATION, target.service, target.handler).observe(
                time.perf_counter() - started
            )

    def _append(self, rec: records.Record) -> asyncio.Future[int]:
        return self.host.append(rec)

    async def _run(self) -> None:
        driver = self.driver
        if driver is None:
            driver = await self._new_driver()
        else:  # started inline and handed over where it blocked (batched execution)
            self.durable_len = self.written_len = len(self.spec.journal or ())
        progress = await self._advance(driver)
        if progress is None:
            return
        grace = self.timeouts.inactivity_s
        while True:
            new = progress.new_entries
            pending: asyncio.Future[Any] | None = None
            if new:
                blobs = [sj.encode_entry(e) for e in new]
                too_large = self.invoker.oversized(blobs)
                if too_large is not None:
                    self._append_terminal(too_large)
                    return
                pending = self._append_entries(blobs, progress.journal_length - len(new))
                self.written_len = progress.journal_length
            status = progress.status
            if isinstance(status, Done):
                if pending is not None:
                    self._ended(driver)
                    await pending
                    if self.adopted:
                        self._fast_response(status)
                return
            if isinstance(status, Failed):
                if pending is not None:
                    await pending
                self._append_failure(
                    status.code,
                    status.message,
                    status.retry_after,
                    records.failure_detail(status.stacktrace, status.command_index),
                )
                return
            assert isinstance(status, Blocked)
            if not status.resumable:
                if pending is not None:
                    await pending
                self._append(
                    records.Suspend(
                        self.inv_id, self.host.epoch, self.attempt, sorted(status.awaiting)
                    )
                )
                return
            # Wait for what lets the handler go on: the ack of run results, or completions.
            deadline = time.monotonic() + grace
            while True:
                acked = status.needs_ack and self.durable_len >= self.written_len
                if self.inbox or acked or self.release_runs:
                    break
                self.wakeup.clear()
                if not self.adopted:
                    # Speculative: never evicted (a suspension could await a held ctx.run,
                    # which nothing completes); the partition adopts or aborts it.
                    await self.wakeup.wait()
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    await driver.close()
                    if pending is not None:
                        await pending
                    self._append(
                        records.Suspend(
                            self.inv_id, self.host.epoch, self.attempt, sorted(status.awaiting)
                        )
                    )
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wakeup.wait(), remaining)
            notes, self.inbox = self.inbox, []
            if self.release_runs:
                self.release_runs = False
                driver.release_runs()
            durable = self.durable_len >= self.written_len
            progress = await self._advance(driver, notes, durable)
            if progress is None:
                return

    async def _new_driver(self) -> InvocationDriver:
        spec = self.spec
        blobs = spec.journal
        if blobs is None:
            blobs = await self.host.load_journal(self.inv_id)
        journal = [sj.decode_entry(b) for b in blobs]
        state: dict[str, bytes] | None = spec.state
        ok = spec.object_key
        if ok is not None and state is None:
            state = dict(await self.host.object_state(*ok))
        driver = InvocationDriver(
            self.handler,
            descriptor_of(spec, state),
            journal,
            always_replay=self.timeouts.always_replay,
            hold_runs=not self.adopted,
            topic_check=self.invoker.topic_check,
        )
        self.driver = driver
        self.durable_len = self.written_len = len(journal)
        return driver

    async def _advance(
        self,
        driver: InvocationDriver,
        notes: list[sj.Notification] | None = None,
        durable: bool = False,
    ) -> Progress | None:
        """One ``advance``, bounded by the handler's ``abort_timeout`` when it has one.

        A handler that runs (e.g. a long ``ctx.run``) longer than inactivity timeout +
        abort timeout is aborted: the attempt fails and is retried per the retry policy.
        """
        limit = abort_limit_s(self.timeouts)
        coro = driver.advance(notes or (), durable=durable)
        if limit is None:
            return await coro
        try:
            return await asyncio.wait_for(coro, limit)
        except TimeoutError:
            await driver.close()
            self._append_failure(
                500,
                f"attempt aborted: still running after {limit:.1f}s (abort_timeout)",
                None,
            )
            return None

    def _ended(self, driver: InvocationDriver) -> None:
        """The handler returned and its end is appended: the next exclusive call of the
        key may start on the state it ended with (speculative hand-off, ADR 0013)."""
        state = driver.state
        if state is None or self.spec.target.kind != TargetKind.EXCLUSIVE:
            return
        if not self.invoker.speculation_enabled:
            return
        if not self.adopted:
            self.invoker.ended_before_adoption(self.inv_id, self.attempt, dict(state))
            return
        nxt = self.host.offer_speculation(self.inv_id, self.attempt, dict(state))
        if nxt is not None and self.invoker.speculate(self.host, nxt):
            self.host.speculation_started(nxt)

    def _fast_response(self, done: Done) -> None:
        """The output is durable: the partition answers waiting HTTP callers now (and
        not again when it applies the output)."""
        failure = done.failure
        outcome = Outcome(
            value=done.value if failure is None else None,
            failure=records.Failure(failure.code, failure.message, dict(failure.metadata))
            if failure is not None
            else None,
        )
        self.host.answer_early(self.inv_id, outcome)

    def _append_entries(self, blobs: list[bytes], start: int) -> asyncio.Future[Any]:
        """One ``AppendJournal`` record, or several in order when the entries together are
        more than a record takes (each one alone fits: :meth:`InProcessInvoker.oversized`).

        Returns:
            Resolves once all are durable; fails with the first failure.
        """
        budget = self.invoker.max_entry_bytes
        chunks: list[list[bytes]] = [[]]
        size = 0
        for blob in blobs:
            if chunks[-1] and size + len(blob) > budget:
                chunks.append([])
                size = 0
            chunks[-1].append(blob)
            size += len(blob)
        futs = []
        for chunk in chunks:
            rec = records.AppendJournal(self.inv_id, self.host.epoch, self.attempt, chunk, start)
            futs.append(self._append(rec))
            start += len(chunk)
        return futs[0] if len(futs) == 1 else asyncio.gather(*futs)

    def _append_terminal(self, message: str) -> None:
        """End the invocation with a terminal failure, whatever its retry policy: a retry
        would make the same value again."""
        log.warning("invocation %s attempt %d: %s", self.inv_id, self.attempt, message)
        self._append(
            records.AttemptFailed(self.inv_id, self.host.epoch, self.attempt, 500, message, None)
        )

    def _append_failure(
        self,
        code: int,
        message: str,
        retry_after: timedelta | None,
        detail: records.FailureDetail | None = None,
    ) -> None:
        f = failure_of(self.invoker.registry, self.spec, code, message, retry_after, detail)
        log.warning(
            "invocation %s attempt %d failed (%d): %s%s",
            self.inv_id,
            self.attempt,
            code,
            message,
            ""
            if f.retry_at_ms is None
            else f"; retrying in {(f.retry_at_ms / 1000 - time.time()):.2f}s",
        )
        self._append(
            records.AttemptFailed(
                self.inv_id,
                self.host.epoch,
                self.attempt,
                code,
                message,
                f.retry_at_ms,
                f.pause,
                f.detail,
            )
        )


def descriptor_of(spec: Attempt, state: dict[str, bytes] | None) -> InvocationDescriptor:
    """What the SDK's driver is told about the attempt ``spec`` running on ``state``."""
    return InvocationDescriptor(
        invocation_id=spec.invocation_id,
        service=spec.target.service,
        handler=spec.target.handler,
        key=spec.target.key,
        headers=dict(spec.headers),
        attempt=spec.number,
        random_seed=random_seed(spec.invocation_id),
        eager_state=state,
        idempotency_key=spec.idempotency_key,
    )


def failure_of(
    registry: Registry,
    spec: Attempt,
    code: int,
    message: str,
    retry_after: timedelta | None,
    detail: records.FailureDetail | None = None,
) -> records.BatchFailure:
    """How a failed attempt is recorded: when it is retried per the handler's retry policy,
    or (exhausted) whether the invocation pauses or is killed with the failure."""
    target = spec.target
    policy = registry.retry_policy(target.service, target.handler)
    failed_attempts = spec.retry_count + 1
    exhausted = policy.max_attempts is not None and failed_attempts >= policy.max_attempts
    if exhausted:
        return records.BatchFailure(
            code, message, None, policy.on_max_attempts is OnMaxAttempts.PAUSE, detail
        )
    delay = (
        retry_after.total_seconds() if retry_after is not None else policy.delay_s(failed_attempts)
    )
    return records.BatchFailure(code, message, int((time.time() + delay) * 1000), False, detail)


TopicCheck = Callable[[str], str | None]
"""Returns why a topic cannot take egress records (unknown, internal), or None."""


class InProcessInvoker:
    """Hosts the user's services in this process.

    Args:
        services: The app's service definitions.
        registry: The service model: each handler's timeouts and retry policy.
        settings: The node's settings (``always_replay``, ``speculative_handoff``).
        topic_check: Given to every attempt's driver: ``sdk.kafka.emit`` asks it about
            the topic of each new emit (``runtime.egress.topics.TopicCatalog.check``);
            None checks topic names only.
    """

    def __init__(
        self,
        services: list[ServiceDefinition],
        registry: Registry,
        settings: Settings,
        topic_check: TopicCheck | None = None,
    ) -> None:
        self._services = {s.name: s for s in services}
        self.registry = registry
        self.topic_check = topic_check
        self._live: dict[str, _Runner] = {}
        self._settings = settings
        self.max_entry_bytes = settings.max_payload_bytes + ENTRY_HEADROOM_BYTES
        """Largest journal entry an attempt may append: one payload and its framing."""
        self.speculation_enabled = settings.speculative_handoff
        self._ended_speculative: dict[str, tuple[int, dict[str, bytes]]] = {}
        """Speculative attempts that ended before adoption: their attempt and final state."""

    def oversized(self, blobs: list[bytes]) -> str | None:
        """Why one of these encoded journal entries is too large to journal, or None.

        A handler's output, a state value, a ``ctx.run`` result, call arguments: each is
        one entry and must fit ``max_payload_bytes`` (plus :data:`ENTRY_HEADROOM_BYTES`).
        """
        for blob in blobs:
            if len(blob) > self.max_entry_bytes:
                kind = type(sj.decode_entry(blob)).__name__
                what = _ENTRY_WORDS.get(kind, f"a journal entry ({kind})")
                limit = self._settings.max_payload_bytes
                return (
                    f"{what} of {len(blob)} bytes is over the payload limit "
                    f"max_payload_bytes = {limit} bytes"
                )
        return None

    def handler(self, service: str, handler: str) -> HandlerDefinition | None:
        svc = self._services.get(service)
        if svc is None:
            return None
        return svc.handlers.get(handler)

    def timeouts(self, service: str, handler: str) -> Timeouts:
        """The handler's attempt timeouts from the service model; the node's
        ``always_replay`` setting makes every handler suspend at every await."""
        t = self.registry.timeouts(service, handler)
        return replace(t, inactivity_s=0.0) if self._settings.always_replay else t

    def start(self, host: AttemptHost, attempt: Attempt) -> None:
        inv_id = attempt.invocation_id
        old = self._live.pop(inv_id, None)
        if old is not None and old.task is not None:
            old.task.cancel()
        target = attempt.target
        handler = self.handler(target.service, target.handler)
        if handler is None:
            msg = f"handler {target.service}/{target.handler} is not deployed here"
            host.append(records.AttemptFailed(inv_id, host.epoch, attempt.number, 404, msg, None))
            return
        runner = _Runner(self, host, attempt, handler)
        self._live[inv_id] = runner
        runner.task = asyncio.get_running_loop().create_task(
            runner.run(), name=f"rt-attempt-{inv_id}-{attempt.number}"
        )

    def can_run_inline(self, service: str, handler: str) -> bool:
        """Batched execution: the handler is deployed here and not in always-replay mode."""
        return (
            self.handler(service, handler) is not None
            and not self.timeouts(service, handler).always_replay
        )

    def run_inline(self, host: AttemptHost, attempt: Attempt, *, queued: bool) -> InlineEnd | None:
        """Run ``attempt`` on the caller's stack (batched execution, ADR 0020).

        ``attempt`` carries its journal and state. Returns how it ended, or None when it
        blocked: a head attempt goes on here as a live attempt (its records appended
        as usual), a ``queued`` one (``ctx.run`` actions held: nothing of it ran
        outside) is dropped.
        """
        target = attempt.target
        handler = self.handler(target.service, target.handler)
        assert handler is not None and attempt.journal is not None
        driver = InvocationDriver(
            handler,
            descriptor_of(attempt, attempt.state),
            [sj.decode_entry(b) for b in attempt.journal],
            hold_runs=queued,
            topic_check=self.topic_check,
        )
        progress = driver.run_inline(defer_durability=not queued)
        if progress is None:
            if queued:
                asyncio.get_running_loop().create_task(driver.close())
                return None
            runner = _Runner(self, host, attempt, handler, driver)
            self._live[attempt.invocation_id] = runner
            runner.task = asyncio.get_running_loop().create_task(
                runner.run(), name=f"rt-attempt-{attempt.invocation_id}-{attempt.number}"
            )
            return None
        entries = [sj.encode_entry(e) for e in progress.new_entries]
        status = progress.status
        if isinstance(status, Failed):
            failure = failure_of(
                self.registry,
                attempt,
                status.code,
                status.message,
                status.retry_after,
                records.failure_detail(status.stacktrace, status.command_index),
            )
            return InlineEnd(entries, None, failure)
        state = driver.state
        return InlineEnd(entries, None if state is None else dict(state))

    def notify(self, invocation_id: str, attempt: int, entries: list[bytes]) -> bool:
        runner = self._live.get(invocation_id)
        if runner is None or runner.attempt != attempt:
            return False
        runner.notify(entries)
        return True

    def applied(self, invocation_id: str, attempt: int, journal_len: int) -> None:
        runner = self._live.get(invocation_id)
        if runner is not None and runner.attempt == attempt:
            runner.applied(journal_len)

    def abort(self, invocation_id: str) -> None:
        self._ended_speculative.pop(invocation_id, None)
        runner = self._live.pop(invocation_id, None)
        if runner is not None and runner.task is not None and not runner.task.done():
            runner.task.cancel()

    def speculate(self, host: AttemptHost, attempt: Attempt) -> bool:
        inv_id = attempt.invocation_id
        if not self.speculation_enabled or inv_id in self._live:
            return False
        handler = self.handler(attempt.target.service, attempt.target.handler)
        if handler is None or self.timeouts(attempt.target.service, handler.name).always_replay:
            return False
        runner = _Runner(self, host, attempt, handler)
        self._live[inv_id] = runner
        runner.task = asyncio.get_running_loop().create_task(
            runner.run(), name=f"rt-attempt-{inv_id}-{attempt.number}-speculative"
        )
        return True

    def ended_before_adoption(
        self, invocation_id: str, attempt: int, state: dict[str, bytes]
    ) -> None:
        """A speculative attempt ended: its adoption seeds the next speculation with it."""
        self._ended_speculative[invocation_id] = (attempt, state)

    def adopt(self, invocation_id: str, attempt: int) -> dict[str, bytes] | None:
        runner = self._live.get(invocation_id)
        if runner is not None and runner.attempt == attempt and not runner.adopted:
            runner.adopted = True
            runner.release_runs = True
            runner.wakeup.set()
        ended = self._ended_speculative.pop(invocation_id, None)
        if ended is not None and ended[0] == attempt:
            return ended[1]
        return None

    def abort_attempt(self, invocation_id: str, attempt: int) -> None:
        ended = self._ended_speculative.get(invocation_id)
        if ended is not None and ended[0] == attempt:
            del self._ended_speculative[invocation_id]
        runner = self._live.get(invocation_id)
        if runner is not None and runner.attempt == attempt:
            self.abort(invocation_id)

    def _done(self, runner: _Runner) -> None:
        if self._live.get(runner.inv_id) is runner:
            del self._live[runner.inv_id]

    async def close(self) -> None:
        tasks = [r.task for r in self._live.values() if r.task is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._live.clear()
