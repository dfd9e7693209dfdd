"""The records of ``rt.log``: every command of the invocation state machine.

NEVER CHANGE a tag or remove a field: these records are the source of truth
and are replayed after any failure, possibly by a newer rt. Add optional
fields with defaults only. ``tests/unit/test_records.py`` pins the encoding.

Journal entries travel as opaque msgpack blobs (``bytes``) encoded by the SDK
(``sdk`` journal structs), so the log and Redis store them without decoding.
"""

from __future__ import annotations

from enum import StrEnum
from typing import get_args

import msgspec


class TargetKind(StrEnum):
    """How invocations of a target run, fixed at submission. NEVER CHANGE a value (on rt.log).

    ``tests/unit/test_wire_enums.py`` pins the values.
    """

    SERVICE = "service"
    """A plain service's handler: no key, no lock."""
    EXCLUSIVE = "exclusive"
    """A virtual object's exclusive handler: holds the key's lock."""
    SHARED = "shared"
    """A shared handler of an object or workflow: no lock, reads committed state."""
    WORKFLOW = "workflow"
    """A workflow's main handler: exclusive, once per workflow id."""


class InvocationSource(StrEnum):
    """Who submitted an invocation (``Invoke.source``). NEVER CHANGE a value (on rt.log)."""

    INGRESS = "ingress"
    """An HTTP request."""
    SERVICE = "service"
    """A call or send from another handler."""
    SUBSCRIPTION = "subscription"
    """A record of a Kafka subscription."""
    CRON = "cron"
    """A tick of a cron job."""
    ADMIN = "admin"
    """The admin API (a state replacement queued as an invocation)."""


class Target(msgspec.Struct, frozen=True, array_like=True):
    service: str
    handler: str
    key: str | None = None
    kind: TargetKind = TargetKind.SERVICE
    """Encoded as its string value (the bytes of a literal ``"service"`` and of the member
    are the same); decoding accepts exactly the values rt has ever written."""

    @property
    def text(self) -> str:
        """``Service/handler`` or ``Object/key/handler``, as the admin API, the CLI and log
        lines show a target."""
        if self.key is None:
            return f"{self.service}/{self.handler}"
        return f"{self.service}/{self.key}/{self.handler}"


class IngressSink(msgspec.Struct, frozen=True, array_like=True):
    """An HTTP caller waiting for the result on its ingress instance's channel."""

    ingress_id: str
    request_id: str


class CallerSink(msgspec.Struct, frozen=True, array_like=True):
    """A calling invocation waiting for the result as a notification of command ``index``."""

    invocation_id: str
    index: int


class Failure(msgspec.Struct, frozen=True, array_like=True):
    code: int
    message: str
    metadata: dict[str, str] = {}


class AnnounceLeader(msgspec.Struct, frozen=True, tag="leader", array_like=True):
    """A new owner takes the partition; records of older epochs are dropped from here on."""

    epoch: int
    worker_id: str


class Invoke(msgspec.Struct, frozen=True, tag="invoke", array_like=True):
    """Start an invocation (from the ingress, a subscription, or a call/send)."""

    invocation_id: str
    target: Target
    input: bytes
    headers: dict[str, str] = {}
    idempotency_key: str | None = None
    source: str = InvocationSource.INGRESS
    """An :class:`InvocationSource` value; kept ``str`` on the wire so that a record from a
    newer rt with a source this one does not know still decodes (it is informational)."""
    ingress_sink: IngressSink | None = None
    caller: CallerSink | None = None
    send: bool = False
    """True for one-way sends: nobody waits for the result."""
    execute_at_ms: int | None = None
    created_at_ms: int = 0
    parent_id: str | None = None
    fresh_id: bool = False
    """The id was just drawn at random (no idempotency key): it cannot be a duplicate,
    so the processor skips the lookup of an existing invocation."""
    dlq: str | None = None
    """Subscription invocations: dead-letter topic that receives the source record if the
    invocation ends with a failure (``runtime.subscriptions.dlq``)."""


class AppendJournal(msgspec.Struct, frozen=True, tag="journal", array_like=True):
    """Entries produced by one attempt, appended in order."""

    invocation_id: str
    epoch: int
    attempt: int
    entries: list[bytes]
    start: int = -1
    """Journal position of the first entry as the attempt saw it; a mismatch means a
    notification was recorded in between, so the attempt's view diverged from the log."""


class PinDeployment(msgspec.Struct, frozen=True, tag="pin", array_like=True):
    """The invocation runs on ``deployment_id`` from now on: its pin, decided in the log.

    Written instead of the :class:`AppendJournal` that carries an attempt's first entries
    when the invocation is not pinned yet (its first attempt that journals anything), so
    every later attempt -- a retry, a replay, a resumption, after a crash, a rebalance or
    a restart -- runs on the deployment whose code produced the journal. The first pin of
    an invocation wins; the entries apply exactly as an ``AppendJournal`` of the same
    fields would. ``docs/decisions/0022-deployments.md``.
    """

    invocation_id: str
    epoch: int
    attempt: int
    deployment_id: str
    entries: list[bytes] = []
    start: int = -1
    """As :attr:`AppendJournal.start`."""


class Complete(msgspec.Struct, frozen=True, tag="complete", array_like=True):
    """A completion produced outside the attempt (call result, timer, awakeable, promise)."""

    invocation_id: str
    index: int
    """Command index the completion belongs to."""
    value: bytes | None = None
    failure: Failure | None = None
    awakeable: bool = False
    """Resolves an awakeable (ingress or ``ctx.resolve_awakeable``): ignored unless
    ``index`` is an awakeable command, so a forged id cannot complete a call or a sleep."""


class Signal(msgspec.Struct, frozen=True, tag="signal", array_like=True):
    """Named signal ``name`` for invocation ``invocation_id`` (``ctx.resolve_signal`` /
    ``reject_signal``): journaled as a notification of the invocation if it is not
    completed (``docs/signals.md``); dropped otherwise."""

    invocation_id: str
    name: str
    value: bytes | None = None
    failure: Failure | None = None
    id: str = ""
    """Deterministic (the sender's invocation id and command index): an outbox that sends
    it again after a take-over does not deliver it twice."""


class Suspend(msgspec.Struct, frozen=True, tag="suspend", array_like=True):
    """The attempt was evicted while waiting for completions of ``awaiting`` commands."""

    invocation_id: str
    epoch: int
    attempt: int
    awaiting: list[int]


class FailureDetail(msgspec.Struct, frozen=True, array_like=True):
    """Where and how an attempt failed, beyond its code and message."""

    stacktrace: str | None = None
    """The handler's traceback (cut to ``STACKTRACE_MAX_CHARS``)."""
    command_index: int | None = None
    """The command the failure relates to (the one running, or the mismatching one)."""
    command_name: str | None = None
    """That command's name, when it has one."""
    journal_len: int | None = None
    """Entries the journal had when the attempt failed (the related entry's position when
    the failure is at the end of the journal)."""


STACKTRACE_MAX_CHARS = 8_000
"""A failure's stack trace is cut (its end kept) to this many characters on the log."""


def failure_detail(
    stacktrace: str | None,
    command_index: int | None,
    command_name: str | None = None,
    journal_len: int | None = None,
) -> FailureDetail | None:
    """A :class:`FailureDetail`, or None when nothing is known; a long trace keeps its end."""
    if not stacktrace and command_index is None and journal_len is None:
        return None
    if stacktrace and len(stacktrace) > STACKTRACE_MAX_CHARS:
        stacktrace = "...\n" + stacktrace[-STACKTRACE_MAX_CHARS:]
    return FailureDetail(stacktrace or None, command_index, command_name, journal_len)


class AttemptFailed(msgspec.Struct, frozen=True, tag="failed", array_like=True):
    invocation_id: str
    epoch: int
    attempt: int
    code: int
    message: str
    retry_at_ms: int | None = None
    """None: retries exhausted — kill with the failure, or pause (``pause``)."""
    pause: bool = False
    detail: FailureDetail | None = None
    """Where and how the attempt failed, when the invoker knows (shown by the admin API)."""


class Cancel(msgspec.Struct, frozen=True, tag="cancel", array_like=True):
    invocation_id: str


class Kill(msgspec.Struct, frozen=True, tag="kill", array_like=True):
    invocation_id: str


class Purge(msgspec.Struct, frozen=True, tag="purge", array_like=True):
    invocation_id: str


class Pause(msgspec.Struct, frozen=True, tag="pause", array_like=True):
    """Admin: stop running the invocation until it is resumed (its attempt is aborted)."""

    invocation_id: str


class RestartAsNew(msgspec.Struct, frozen=True, tag="restart", array_like=True):
    """Admin: start ``invoke`` as a new invocation restarting the completed
    ``restarted_from`` (``PATCH /invocations/{id}/restart-as-new``), applied as that
    Invoke with ``journal`` after its input."""

    invoke: Invoke
    restarted_from: str
    journal: list[bytes] = []
    """Entries of the old journal the new one starts with (``?from=N``): commands with
    their completions, replayed by the first attempt instead of run again."""
    deployment: str | None = None
    """The deployment the kept entries must replay on (its pin), if any."""


class Resume(msgspec.Struct, frozen=True, tag="resume", array_like=True):
    """Admin: run a paused (or suspended, or backing-off) invocation again now, from its
    journal."""

    invocation_id: str
    deployment: str | None = None
    """Run it on this deployment from now on (replaces its pin; only when it is pinned
    and paused or suspended, else the resume happens on its pin)."""


class TimerFired(msgspec.Struct, frozen=True, tag="timer", array_like=True):
    epoch: int
    timer_id: bytes


class Attach(msgspec.Struct, frozen=True, tag="attach", array_like=True):
    """An ingress caller wants the result of an existing invocation.

    With ``peek`` the owner answers at once: the result, or ``not_ready`` while the
    invocation runs. Ordered after every record appended before it, a peek sees a
    completion that is in the log but not applied yet (an output read after a
    caller was answered early).
    """

    invocation_id: str
    sink: IngressSink
    peek: bool = False


class AttachInvocation(msgspec.Struct, frozen=True, tag="attachinv", array_like=True):
    """A handler wants another invocation's result (``ctx.attach_invocation``).

    The owner of ``invocation_id`` answers with ``Complete(caller...)`` once the
    target is done (404 if unknown); with ``peek`` it answers at once, ``Void``
    while the target is not done (``GetInvocationOutputCommand``).
    """

    invocation_id: str
    caller: CallerSink
    peek: bool = False


class SetObjectState(msgspec.Struct, frozen=True, tag="setstate", array_like=True):
    """Admin: replace an object's whole state; queued behind the key's lock like an invocation."""

    service: str
    key: str
    state: dict[str, bytes]


class CronJob(msgspec.Struct, frozen=True, array_like=True):
    """A recurring invocation (rt extension, no Restate equivalent): ADR 0006."""

    id: str
    target: Target
    schedule: str | None = None
    """Cron expression (UTC): 5 fields, or 6 with seconds first; None for ``every_ms``."""
    every_ms: int | None = None
    """Fixed interval, the first tick ``every_ms`` after ``created_ms``."""
    input: bytes = b""
    headers: dict[str, str] = {}
    created_ms: int = 0
    request_id: str = ""
    """Names the admin request that wrote this definition (it waits to see it applied)."""


class CronSchedule(msgspec.Struct, frozen=True, tag="cron", array_like=True):
    """Create or replace a cron job; routed to the partition of the job id."""

    job: CronJob


class CronDelete(msgspec.Struct, frozen=True, tag="crondel", array_like=True):
    """Delete a cron job: no tick after this record is applied."""

    job_id: str


class EgressDone(msgspec.Struct, frozen=True, tag="egress", array_like=True):
    """Written in the egress transaction with the records it sent: their outbox entries go.

    Applied whatever its epoch: only a committed transaction is ever read
    (read_committed), and committed records are out, whoever sent them. With no
    ``fields`` it is a barrier: a new egress producer waits for its own to be applied,
    so every transaction committed before it fenced its predecessor is applied first.
    """

    fields: list[str]
    token: str = ""


class SourceEntry(msgspec.Struct, frozen=True, array_like=True):
    """One source record of a :class:`SubscriptionBatch`: what its Invoke is made of."""

    offset: int
    input: bytes
    """The handler input, already decoded by the subscription's format."""
    key: bytes | None = None
    timestamp_ms: int | None = None
    headers: tuple[tuple[str, bytes | None], ...] = ()


class SubscriptionBatch(msgspec.Struct, frozen=True, tag="subbatch", array_like=True):
    """Consecutive records of one source partition whose Invokes belong to this log partition.

    Exactly-once intake appends these instead of one Invoke per record (one produce
    and about 30 bytes per record instead of 230). The processor expands each entry
    into the Invoke that :func:`runtime.subscriptions.mapping.build_invoke` makes, so
    ids, headers and routing are those of the one contract; entries apply in order,
    as the Invokes would.
    """

    subscription_id: str
    topic: str
    partition: int
    target: Target
    """Service, handler and kind of the sink (``key`` unused: each entry's key is its own)."""
    created_at_ms: int
    dlq: str | None
    entries: list[SourceEntry]


class BatchFailure(msgspec.Struct, frozen=True, array_like=True):
    """How the attempt of a :class:`BatchItem` failed: what ``AttemptFailed`` would say."""

    code: int
    message: str
    retry_at_ms: int | None = None
    """None: retries exhausted — kill with the failure, or pause (``pause``)."""
    pause: bool = False
    detail: FailureDetail | None = None
    """As :attr:`AttemptFailed.detail`."""


class BatchItem(msgspec.Struct, frozen=True, array_like=True):
    """One attempt run by a partition owner in a batch (batched execution, ADR 0020).

    Applied as the ``AppendJournal`` of ``(invocation_id, epoch, attempt, entries,
    start)`` it stands for, then, with ``failure``, the ``AttemptFailed``.
    """

    invocation_id: str
    attempt: int
    entries: list[bytes]
    start: int = -1
    after: int = -1
    """Index of the item (in the same record) whose clean end this attempt ran after,
    on the state it ended with: the item counts only if applying that item handed
    this invocation its key's lock. -1: the invocation was the current attempt when
    it ran (no assumption)."""
    failure: BatchFailure | None = None


class BatchCommit(msgspec.Struct, frozen=True, tag="batch", array_like=True):
    """What the partition owner's batched execution produced: one record per batch.

    Written by the owner of this partition to it (like ``AppendJournal``), so records
    of an epoch older than the last announced leader's are dropped.
    """

    epoch: int
    items: list[BatchItem]


Record = (
    AnnounceLeader
    | Invoke
    | AppendJournal
    | Complete
    | Suspend
    | AttemptFailed
    | Cancel
    | Kill
    | Purge
    | TimerFired
    | Attach
    | SetObjectState
    | CronSchedule
    | CronDelete
    | AttachInvocation
    | EgressDone
    | SubscriptionBatch
    | BatchCommit
    | PinDeployment
    | Pause
    | Resume
    | RestartAsNew
    | Signal
)

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Record)


def encode(record: Record) -> bytes:
    return _encoder.encode(record)


def decode(data: bytes) -> Record:
    """Decode a record; raises ``msgspec.DecodeError`` on garbage."""
    rec: Record = _decoder.decode(data)
    return rec


class ForeignRecordError(ValueError):
    """Not an rt record at all (another producer wrote to rt's topic): safe to skip."""


class UnreadableRecordError(ValueError):
    """Shaped like an rt record (a msgpack array led by a record tag) but undecodable:
    corrupted, or written by a newer rt. Skipping it could lose an invocation's step."""


TAGS = frozenset(t.__struct_config__.tag for t in get_args(Record))
"""The tag of every record type (the first element of its msgpack array)."""


def decode_checked(data: bytes) -> Record:
    """Decode a record, telling what an undecodable one is.

    Raises:
        ForeignRecordError: not an rt record (not msgpack, or not an array led by a
            string): another producer's, which rt may skip.
        UnreadableRecordError: an rt-shaped record that does not decode (a known tag
            with the wrong fields, or an unknown tag): which rt must not skip.
    """
    try:
        rec: Record = _decoder.decode(data)
        return rec
    except msgspec.DecodeError as e:
        reason = str(e)
    try:
        raw = msgspec.msgpack.decode(data)
    except msgspec.DecodeError:
        raise ForeignRecordError(f"not an rt record ({len(data)} bytes, not msgpack)") from None
    if isinstance(raw, list) and raw and isinstance(raw[0], str):
        if raw[0] in TAGS:
            raise UnreadableRecordError(f"an rt {raw[0]!r} record that does not decode: {reason}")
        raise UnreadableRecordError(
            f"a record of unknown type {raw[0][:40]!r} (written by a newer rt version?)"
        )
    raise ForeignRecordError(
        f"not an rt record ({len(data)} bytes of msgpack {type(raw).__name__})"
    )
