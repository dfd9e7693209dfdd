"""Cron jobs: recurring invocations driven by the partition's durable timers.

A job lives on the partition of its id (``CronSchedule`` / ``CronDelete``
records are routed there). Its state (definition, generation, next tick) is a
field of the partition's ``cron`` hash; its next tick is one ``cron`` timer in
the partition's timer set. Applying that timer's ``TimerFired`` does, in one
atomic apply (ADR 0006):

1. take the timer (ZREM) — a duplicate TimerFired finds it gone;
2. outbox an ``Invoke`` whose id is derived from (job id, tick time), so even a
   re-sent outbox record is deduplicated by the target partition;
3. arm the next tick and store the job's new state.

So each tick makes one invocation, across crashes and owner changes.

Missed ticks (the partition had no owner, or the worker was down): when a tick
fires late, the job runs **once**, for the latest tick due at that moment, and
the next tick is the first one after now — no burst of catch-up runs.

These are partition transitions (the machine applies :class:`CronChanges` in
the batch that causes them) and formats (:class:`CronState`, NEVER CHANGE);
the timer wheel that fires the ticks is ``runtime.timers``. Owns the job
state and the tick rules; may not read Redis except :meth:`CronJobs.load` at
take-over.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import msgspec
from croniter import croniter

from runtime.log import records
from runtime.partition.timer import Timer, TimerKind, timer_encoder
from runtime.state.keys import PartitionKeys
from runtime.state.store import HDel, HSet, Op, PartitionStore
from sdk.ids import cron_invocation_id, workflow_invocation_id

MIN_EVERY_MS = 1000
"""Shortest interval of an ``every`` job."""
CRON_JOB_HEADER = "x-rt-cron-job"
"""Request header of a tick's invocation: the job id."""
CRON_TICK_HEADER = "x-rt-cron-tick"
"""Request header of a tick's invocation: the tick's scheduled time, epoch ms."""
JOB_ID = re.compile(r"[A-Za-z0-9._-]{1,128}\Z")
"""What a job id may look like (it appears in URLs and keys)."""


class CronError(ValueError):
    """A schedule that is not a valid cron expression or interval."""


class CronState(msgspec.Struct, frozen=True, array_like=True):
    """A job as stored in the partition's ``cron`` hash. NEVER CHANGE field order."""

    job: records.CronJob
    generation: int
    """Bumped by every re-definition: ticks armed for an older one are ignored."""
    next_ms: int
    last_tick_ms: int | None = None
    last_invocation_id: str | None = None


_state_enc = msgspec.msgpack.Encoder()
_state_dec = msgspec.msgpack.Decoder(CronState)


def encode_state(state: CronState) -> bytes:
    return _state_enc.encode(state)


def decode_state(blob: bytes) -> CronState:
    return _state_dec.decode(blob)


def validate_schedule(schedule: str | None, every_ms: int | None) -> None:
    """Check exactly one of a cron expression or an interval is given and valid.

    Raises:
        CronError: With a message fit for a 400 answer.
    """
    if (schedule is None) == (every_ms is None):
        raise CronError("give exactly one of 'schedule' (a cron expression) or 'every'")
    if every_ms is not None and every_ms < MIN_EVERY_MS:
        raise CronError(f"'every' must be at least {MIN_EVERY_MS} ms")
    if schedule is not None:
        fields = schedule.split()
        if len(fields) not in (5, 6) or not croniter.is_valid(
            schedule, second_at_beginning=len(fields) == 6
        ):
            raise CronError(
                f"invalid cron expression {schedule!r}: expected 5 fields "
                "(minute hour day month weekday) or 6 with seconds first"
            )


def _cron(schedule: str, at_ms: float) -> croniter:
    return croniter(schedule, at_ms / 1000, second_at_beginning=len(schedule.split()) == 6)


def next_tick(job: records.CronJob, after_ms: int) -> int:
    """The first tick strictly after ``after_ms``."""
    if job.every_ms is not None:
        anchor = job.created_ms
        if after_ms < anchor:
            return anchor + job.every_ms
        return anchor + ((after_ms - anchor) // job.every_ms + 1) * job.every_ms
    assert job.schedule is not None
    return int(round(_cron(job.schedule, after_ms).get_next(float) * 1000))


def latest_tick(job: records.CronJob, at_ms: int) -> int:
    """The last tick at or before ``at_ms`` (may precede the job's creation)."""
    if job.every_ms is not None:
        anchor = job.created_ms
        return anchor + ((at_ms - anchor) // job.every_ms) * job.every_ms
    assert job.schedule is not None
    return int(round(_cron(job.schedule, at_ms + 1).get_prev(float) * 1000))


TICK_PLACEHOLDER = "{tick}"
"""In a job's key, replaced by the tick's UTC time (``20261122T100000Z``): a workflow
runs once per id, so a job that starts a workflow run per tick names each run by it."""


def tick_target(target: records.Target, tick_ms: int) -> records.Target:
    """The job's target for one tick, its key's ``{tick}`` filled in. NEVER CHANGE the format."""
    if target.key is None or TICK_PLACEHOLDER not in target.key:
        return target
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(tick_ms // 1000))
    return msgspec.structs.replace(target, key=target.key.replace(TICK_PLACEHOLDER, stamp))


def tick_timer(job_id: str, tick_ms: int, generation: int) -> Timer:
    return Timer(TimerKind.CRON, job_id, tick_ms, generation)


@dataclass
class CronChanges:
    """What one cron record or tick does to the partition, for the processor to apply."""

    ops: list[Op] = field(default_factory=list)
    """Writes of the ``cron`` hash."""
    arm: list[tuple[Timer, int]] = field(default_factory=list)
    """Timers to add (with their due time)."""
    disarm: list[bytes] = field(default_factory=list)
    """Timer members to remove."""
    invoke: records.Invoke | None = None
    """The tick's invocation, to outbox to the target's partition."""


class CronJobs:
    """The cron jobs of one partition, held in memory (few: admin-defined) and in Redis."""

    def __init__(self, keys: PartitionKeys) -> None:
        self._keys = keys
        self.jobs: dict[str, CronState] = {}

    async def load(self, store: PartitionStore) -> None:
        """Take-over: read the partition's jobs."""
        raw = await store.hgetall(self._keys.cron)
        self.jobs = {k.decode(): decode_state(v) for k, v in raw.items()}

    def schedule(self, job: records.CronJob) -> CronChanges:
        """Create or replace a job; its first tick comes after the definition's time."""
        out = CronChanges()
        old = self.jobs.get(job.id)
        generation = 1
        if old is not None:
            generation = old.generation + 1
            out.disarm.append(self._member(old))
        first = next_tick(job, job.created_ms)
        self._store(CronState(job, generation, first), out)
        out.arm.append((tick_timer(job.id, first, generation), first))
        return out

    def delete(self, job_id: str) -> CronChanges:
        out = CronChanges()
        old = self.jobs.pop(job_id, None)
        if old is not None:
            out.disarm.append(self._member(old))
            out.ops.append(HDel(self._keys.cron, job_id))
        return out

    def tick(self, timer: Timer, now_ms: int) -> CronChanges:
        """A tick's timer was taken: invoke once for the latest due tick, arm the next."""
        out = CronChanges()
        state = self.jobs.get(timer.invocation_id)
        if state is None or state.generation != timer.attempt or state.next_ms != timer.index:
            return out  # deleted or redefined since this tick was armed
        job = state.job
        tick = max(timer.index, latest_tick(job, now_ms))
        target = tick_target(job.target, tick)
        if target.kind == records.TargetKind.WORKFLOW and target.key is not None:
            inv_id = workflow_invocation_id(target.service, target.key)  # its key names the tick
        else:
            inv_id = cron_invocation_id(job.id, tick, target.service, target.key)
        out.invoke = records.Invoke(
            invocation_id=inv_id,
            target=target,
            input=job.input,
            headers={**job.headers, CRON_JOB_HEADER: job.id, CRON_TICK_HEADER: str(tick)},
            source=records.InvocationSource.CRON,
            send=True,
            created_at_ms=now_ms,
        )
        nxt = next_tick(job, max(now_ms, tick))
        self._store(CronState(job, state.generation, nxt, tick, inv_id), out)
        out.arm.append((tick_timer(job.id, nxt, state.generation), nxt))
        return out

    def _store(self, state: CronState, out: CronChanges) -> None:
        self.jobs[state.job.id] = state
        out.ops.append(HSet(self._keys.cron, state.job.id, encode_state(state)))

    @staticmethod
    def _member(state: CronState) -> bytes:
        return timer_encoder.encode(tick_timer(state.job.id, state.next_ms, state.generation))
