"""Admin endpoints for one invocation: cancel, kill, purge (Restate's shape) and describe.

Restate's admin API (``PATCH /invocations/{id}/cancel|kill|purge`` and the
deprecated ``DELETE /invocations/{id}?mode=Cancel|Kill|Purge``):

- cancel → ``202`` (the handler sees ``TerminalError("cancelled", 409)`` at its
  next await and may compensate; the result arrives later); ``404`` unknown id;
  ``409`` already completed.
- kill → ``200`` once the invocation has completed with 409 ``killed`` (its
  in-flight callees are killed too, and an object's lock passes on); ``404``;
  ``409`` already completed.
- purge → ``200`` once status, result and journal are gone (for a workflow's
  run also its state and promises); ``404``; ``409`` when not completed yet.

rt extensions (Restate reads these with SQL over ``sys_invocation``/``sys_journal``):
``GET /invocations/{id}`` → :class:`InvocationDescription`; with ``?journal=true``
also its journal entries (:class:`InvocationWithJournal`). ``GET /invocations``
lists the invocations that have not completed (each partition's ``active``
set), oldest first, filtered by ``service``, ``handler``, ``key``, ``status`` and
``created_after/before`` → :class:`InvocationList` (at most ``limit`` from ``offset``;
``more`` says whether others matched after them, ``total`` how many matched).
``status=completed`` lists the completed ones still retained instead, newest first,
also filtered by ``result`` and ``completed_after/before``, paged by ``cursor``
(:mod:`runtime.admin.history`).

A malformed id is ``400``. Every operation is a record on the invocation's
partition of ``rt.log``; the status check before it reads the applied view in
Redis, so a request racing the invocation's own completion may be answered
``202``/``200`` for an invocation that completed on its own meanwhile.
"""

from __future__ import annotations

import asyncio
import enum
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Protocol

import redis.asyncio as aioredis
from fastapi import APIRouter, Query, Response

from runtime.admin.app import AdminApiError
from runtime.admin.history import (
    BadCursor,
    CompletionKind,
    HistoryPage,
    TimeFilter,
    completion_kind,
    decode_cursor,
    epoch_ms,
    history_page,
)
from runtime.admin.invocation_models import (
    InvocationDescription,
    InvocationList,
    InvocationWithJournal,
)
from runtime.admin.journal_view import journal_view
from runtime.log import records
from runtime.log.producer import LogProducer, partition_of_invocation
from runtime.partition.status import InvocationStatus, Status, decode_status
from runtime.settings import Settings
from runtime.state.reads import StateReads
from sdk.ids import InvalidIdError, parse_invocation_id

LIST_LIMIT_MAX = 10_000
"""Most invocations one ``GET /invocations`` returns."""

SETTLE_TIMEOUT_S = 10.0
"""How long kill/purge wait for their record to be applied before answering ``202``."""


class RestateStatus(enum.StrEnum):
    """An invocation's status as the admin API shows it: the names of Restate's
    ``sys_invocation.status``. NEVER CHANGE a value (admin wire format, CLI filters)."""

    SCHEDULED = "scheduled"
    PENDING = "pending"
    RUNNING = "running"
    SUSPENDED = "suspended"
    BACKING_OFF = "backing-off"
    PAUSED = "paused"
    COMPLETED = "completed"


_RESTATE_STATUS = {
    Status.SCHEDULED: RestateStatus.SCHEDULED,
    Status.INBOXED: RestateStatus.PENDING,
    Status.INVOKED: RestateStatus.RUNNING,
    Status.SUSPENDED: RestateStatus.SUSPENDED,
    Status.BACKING_OFF: RestateStatus.BACKING_OFF,
    Status.PAUSED: RestateStatus.PAUSED,
    Status.COMPLETED: RestateStatus.COMPLETED,
}
"""rt's statuses under Restate's names."""


class TerminationMode(enum.StrEnum):
    """``mode`` of the deprecated ``DELETE /invocations/{id}``."""

    CANCEL = "Cancel"
    KILL = "Kill"
    PURGE = "Purge"


class InvocationNotFound(Exception):
    """No invocation with this id (never existed, purged, or past its retention)."""


class InvocationCompleted(Exception):
    """The invocation already completed (cancel/kill) or is not completed yet (purge)."""


@dataclass(frozen=True)
class ListFilter:
    """Which active invocations ``GET /invocations`` returns (None: any)."""

    service: str | None = None
    handler: str | None = None
    key: str | None = None
    status: str | None = None
    result: str | None = None
    """A :class:`CompletionKind` (completed invocations only)."""
    times: TimeFilter = TimeFilter()

    def matches(self, d: InvocationDescription) -> bool:
        return (
            (self.service is None or d.target_service_name == self.service)
            and (self.handler is None or d.target_handler_name == self.handler)
            and (self.key is None or d.target_service_key == self.key)
            and (self.status is None or d.status == self.status)
            and (self.result is None or d.completion_kind == self.result)
            and self.times.matches(d)
        )


class InvocationBackend(Protocol):
    async def active(self, which: ListFilter) -> list[InvocationDescription]:
        """Every matching invocation that has not completed, oldest first."""
        ...

    async def describe(self, invocation_id: str) -> InvocationDescription:
        """Raises InvocationNotFound."""
        ...

    async def history(
        self, which: ListFilter, below: tuple[int, str] | None, offset: int, limit: int
    ) -> HistoryPage:
        """Matching completed invocations still retained, newest first, after ``below``."""
        ...

    async def journal(self, invocation_id: str) -> list[bytes]:
        """The stored journal blobs (empty when gone)."""
        ...

    async def cancel(self, invocation_id: str) -> None:
        """Raises InvocationNotFound / InvocationCompleted."""
        ...

    async def kill(self, invocation_id: str) -> bool:
        """True once applied; raises InvocationNotFound / InvocationCompleted."""
        ...

    async def purge(self, invocation_id: str) -> bool:
        """True once applied; raises InvocationNotFound / InvocationCompleted (not done)."""
        ...


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


_NO_DETAIL = records.FailureDetail()


def describe_status(st: InvocationStatus, journal_size: int) -> InvocationDescription:
    """The admin view of a stored status."""
    t = st.target
    target = t.text
    outcome = st.outcome if st.status is Status.COMPLETED else None
    failure = outcome.failure if outcome is not None else None
    detail = (st.last_failure is not None and st.last_failure_detail) or _NO_DETAIL
    return InvocationDescription(
        id=st.invocation_id,
        target=target,
        target_service_name=t.service,
        target_service_key=t.key,
        target_handler_name=t.handler,
        target_kind=t.kind,
        status=_RESTATE_STATUS[st.status],
        invoked_by=st.source,
        invoked_by_id=st.parent_id,
        idempotency_key=st.idempotency_key,
        created_at=_iso(st.created_ms) or "",
        modified_at=_iso(st.modified_ms) or "",
        completed_at=_iso(st.completed_ms),
        scheduled_start_at=_iso(st.execute_at_ms),
        next_retry_at=_iso(st.retry_at_ms) if st.status is Status.BACKING_OFF else None,
        retry_count=st.retry_count,
        attempt=st.attempt,
        journal_size=journal_size,
        cancel_requested=st.cancel_requested,
        last_failure=st.last_failure.message if st.last_failure is not None else None,
        last_failure_error_code=st.last_failure.code if st.last_failure is not None else None,
        completion_result=None if outcome is None else ("failure" if failure else "success"),
        completion_failure=failure.message if failure is not None else None,
        completion_failure_code=failure.code if failure is not None else None,
        completion_kind=completion_kind(outcome),
        pinned_deployment_id=st.deployment,
        last_failure_stacktrace=detail.stacktrace,
        last_failure_related_command_index=detail.command_index,
        last_failure_related_command_name=detail.command_name,
        last_failure_journal_size=detail.journal_len,
        restarted_from=st.restarted_from,
    )


class LogInvocationBackend:
    """Reads statuses from Redis (the applied view); changes go through ``rt.log``."""

    def __init__(self, producer: LogProducer, redis: aioredis.Redis, settings: Settings) -> None:
        self._producer = producer
        self._reads = StateReads(redis, settings.topic_prefix, settings.partitions)
        self._partitions = settings.partitions

    async def _status(self, invocation_id: str) -> InvocationStatus | None:
        blob = await self._reads.status(invocation_id)
        return decode_status(blob) if blob is not None else None

    async def _running(self, invocation_id: str) -> int:
        st = await self._status(invocation_id)
        if st is None:
            raise InvocationNotFound(invocation_id)
        if st.status is Status.COMPLETED:
            raise InvocationCompleted(invocation_id)
        return partition_of_invocation(invocation_id, self._partitions)

    async def active(self, which: ListFilter) -> list[InvocationDescription]:
        out: list[InvocationDescription] = []
        async for inv in self._reads.active():
            st = decode_status(inv.status)
            if st.status is Status.COMPLETED:
                continue
            d = describe_status(st, inv.journal_length)
            if which.matches(d):
                out.append(d)
        out.sort(key=lambda d: (d.created_at, d.id))
        return out

    async def history(
        self, which: ListFilter, below: tuple[int, str] | None, offset: int, limit: int
    ) -> HistoryPage:
        def view(blob: bytes, journal_length: int) -> InvocationDescription | None:
            st = decode_status(blob)
            if st.status is not Status.COMPLETED:
                return None
            d = describe_status(st, journal_length)
            return d if which.matches(d) else None

        return await history_page(
            self._reads, view, times=which.times, below=below, offset=offset, limit=limit
        )

    async def describe(self, invocation_id: str) -> InvocationDescription:
        st = await self._status(invocation_id)
        if st is None:
            raise InvocationNotFound(invocation_id)
        return describe_status(st, await self._reads.journal_length(invocation_id))

    async def journal(self, invocation_id: str) -> list[bytes]:
        return await self._reads.journal(invocation_id)

    async def cancel(self, invocation_id: str) -> None:
        part = await self._running(invocation_id)
        await self._producer.append(part, invocation_id.encode(), records.Cancel(invocation_id))

    async def kill(self, invocation_id: str) -> bool:
        part = await self._running(invocation_id)
        await self._producer.append(part, invocation_id.encode(), records.Kill(invocation_id))
        return await self._settled(invocation_id, lambda st: st is None or _done(st))

    async def purge(self, invocation_id: str) -> bool:
        st = await self._status(invocation_id)
        if st is None:
            raise InvocationNotFound(invocation_id)
        if st.status is not Status.COMPLETED:
            raise InvocationCompleted(invocation_id)
        part = partition_of_invocation(invocation_id, self._partitions)
        await self._producer.append(part, invocation_id.encode(), records.Purge(invocation_id))
        return await self._settled(invocation_id, lambda st: st is None)

    async def _settled(self, invocation_id: str, ok: _Check) -> bool:
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while time.monotonic() < deadline:
            if ok(await self._status(invocation_id)):
                return True
            await asyncio.sleep(0.02)
        return False


class _Check(Protocol):
    def __call__(self, st: InvocationStatus | None, /) -> bool: ...


def _done(st: InvocationStatus) -> bool:
    return st.status is Status.COMPLETED


def _check_id(invocation_id: str) -> None:
    try:
        parse_invocation_id(invocation_id)
    except InvalidIdError as e:
        raise AdminApiError(400, f"Invalid invocation id: {e}") from None


_NO_BODY: dict[str, Any] = {
    "response_class": Response,
    "responses": {
        200: {"description": "Applied"},
        202: {"description": "Accepted: in the log, not applied within the settle time yet"},
    },
}
"""Kill and purge answer without a body, 200 once applied, else 202 (cancel: always 202)."""


def invocations_router(backend: InvocationBackend) -> APIRouter:
    """The ``/invocations`` routes over ``backend``."""
    router = APIRouter()

    def not_found(inv_id: str) -> AdminApiError:
        return AdminApiError(404, f"The invocation '{inv_id}' does not exist")

    def completed(inv_id: str) -> AdminApiError:
        return AdminApiError(409, f"The invocation '{inv_id}' is already completed")

    @router.get("/invocations")
    async def list_invocations(
        service: Annotated[str | None, Query()] = None,
        handler: Annotated[str | None, Query()] = None,
        key: Annotated[str | None, Query()] = None,
        status: Annotated[str | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=LIST_LIMIT_MAX)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
        result: Annotated[CompletionKind | None, Query()] = None,
        created_after: Annotated[datetime | None, Query()] = None,
        created_before: Annotated[datetime | None, Query()] = None,
        completed_after: Annotated[datetime | None, Query()] = None,
        completed_before: Annotated[datetime | None, Query()] = None,
        cursor: Annotated[str | None, Query()] = None,
    ) -> InvocationList:
        """Invocations that have not completed, oldest first; with ``status=completed``
        the completed ones still retained, newest first (rt extension)."""
        times = TimeFilter(
            *(None if t is None else epoch_ms(t) for t in
              (created_after, created_before, completed_after, completed_before))
        )  # fmt: skip
        if status == RestateStatus.COMPLETED:
            return await _list_completed(
                ListFilter(service, handler, key, None, result, times), cursor, offset, limit
            )
        active = {s.value for s in RestateStatus} - {RestateStatus.COMPLETED}
        if status is not None and status not in active:
            raise AdminApiError(
                400,
                f"Invalid status {status!r}: expected one of {', '.join(sorted(active))} "
                "or completed",
            )
        for name, given in (
            ("result", result),
            ("completed_after", completed_after),
            ("completed_before", completed_before),
            ("cursor", cursor),
        ):
            if given is not None:
                raise AdminApiError(400, f"{name} applies to completed invocations only: "
                                    "add status=completed")  # fmt: skip
        found = await backend.active(ListFilter(service, handler, key, status, times=times))
        return InvocationList(
            invocations=found[offset : offset + limit],
            more=len(found) > offset + limit,
            total=len(found),
        )

    async def _list_completed(
        which: ListFilter, cursor: str | None, offset: int, limit: int
    ) -> InvocationList:
        try:
            below = None if cursor is None else decode_cursor(cursor)
        except BadCursor as e:
            raise AdminApiError(400, str(e)) from None
        page = await backend.history(which, below, offset, limit)
        return InvocationList(
            invocations=page.invocations, more=page.more, next_cursor=page.next_cursor
        )

    @router.get("/invocations/{invocation_id}")
    async def describe_invocation(
        invocation_id: str, journal: Annotated[bool, Query()] = False
    ) -> InvocationWithJournal | InvocationDescription:
        """Status, target, timestamps, journal size and failures of one invocation (rt);
        ``?journal=true`` adds the journal entries."""
        _check_id(invocation_id)
        try:
            d = await backend.describe(invocation_id)
        except InvocationNotFound:
            raise not_found(invocation_id) from None
        if not journal:
            return d
        entries = journal_view(await backend.journal(invocation_id))
        return InvocationWithJournal(**d.model_dump(), journal=entries)

    @router.patch("/invocations/{invocation_id}/cancel", status_code=202, response_class=Response)
    async def cancel_invocation(invocation_id: str) -> Response:
        """Cancel: the handler gets TerminalError 409 ``cancelled`` at its next await."""
        _check_id(invocation_id)
        try:
            await backend.cancel(invocation_id)
        except InvocationNotFound:
            raise not_found(invocation_id) from None
        except InvocationCompleted:
            raise completed(invocation_id) from None
        return Response(status_code=202)

    @router.patch("/invocations/{invocation_id}/kill", **_NO_BODY)
    async def kill_invocation(invocation_id: str) -> Response:
        """Kill: complete at once with 409 ``killed``, no compensation; callees killed too."""
        _check_id(invocation_id)
        try:
            applied = await backend.kill(invocation_id)
        except InvocationNotFound:
            raise not_found(invocation_id) from None
        except InvocationCompleted:
            raise completed(invocation_id) from None
        return Response(status_code=200 if applied else 202)

    @router.patch("/invocations/{invocation_id}/purge", **_NO_BODY)
    async def purge_invocation(invocation_id: str) -> Response:
        """Purge a completed invocation: status, result, journal (and idempotency entry)."""
        _check_id(invocation_id)
        try:
            applied = await backend.purge(invocation_id)
        except InvocationNotFound:
            raise not_found(invocation_id) from None
        except InvocationCompleted:
            raise AdminApiError(
                409, f"The invocation '{invocation_id}' is not completed: cancel or kill it first"
            ) from None
        return Response(status_code=200 if applied else 202)

    @router.delete("/invocations/{invocation_id}", deprecated=True, **_NO_BODY)
    async def delete_invocation(
        invocation_id: str,
        mode: Annotated[TerminationMode, Query()] = TerminationMode.CANCEL,
    ) -> Response:
        """Deprecated form of cancel/kill/purge (``mode=Cancel|Kill|Purge``, default Cancel)."""
        if mode is TerminationMode.KILL:
            return await kill_invocation(invocation_id)
        if mode is TerminationMode.PURGE:
            return await purge_invocation(invocation_id)
        return await cancel_invocation(invocation_id)

    return router
