"""Admin endpoints that steer one invocation: pause, resume, restart as new (Restate's shape).

- ``PATCH /invocations/{id}/pause`` → ``202`` pausing (answered once the pause is
  applied, or after ``SETTLE_TIMEOUT_S``), ``200`` already paused, ``404`` unknown id,
  ``409`` not running (scheduled, pending in its key's inbox, or completed: "an
  invocation can be paused only when running"). A paused invocation runs no attempt
  until it is resumed and keeps its object key's lock.
- ``PATCH /invocations/{id}/resume[?deployment=keep|latest|dp_...]`` → ``200``: a
  paused or suspended invocation runs again from its journal, a backing-off one
  retries now, a running one is left as it is; ``404``; ``409`` completed, or a
  ``deployment`` for an invocation that is not paused or suspended, or not pinned to
  a deployment; ``425`` scheduled or pending (not started yet); ``400`` an unknown
  deployment, or one that does not serve the invocation's service.
- ``PATCH /invocations/{id}/restart-as-new[?from=N&deployment=...]`` → ``200``
  ``{"new_invocation_id": "inv_..."}``: a new invocation with the completed one's
  target, headers and input (no idempotency key: the new one has its own id); with
  ``from`` it also keeps journal entries ``1..N`` and the completions of their
  commands (``runtime.partition.restarts``), replayed on the old pin (``keep``) or on
  the newest deployment of the service (``latest``, the default). ``404``; ``409``
  still running; ``425`` scheduled or pending; ``410`` the journal is gone (past its
  retention); ``422`` a workflow's run (Restate: restarting workflows is not
  supported); ``400`` a ``from`` outside the journal, at or after the output, or
  keeping a command that never completed, or ``deployment`` without ``from``.

Every change is a record on the invocation's partition of ``rt.log`` (``Pause``,
``Resume``, ``RestartAsNew``); the checks before it read the applied view in Redis,
so a request racing the invocation's own progress is decided by the partition (a
pause that arrives after the invocation completed changes nothing).

Owns these three routes; may not touch the read-only or terminating routes
(``runtime.admin.invocations``).
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Callable
from typing import Annotated, Protocol

import redis.asyncio as aioredis
from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from runtime.admin.app import AdminApiError
from runtime.admin.invocations import describe_status
from runtime.log import records
from runtime.log.producer import LogProducer, partition_of_invocation
from runtime.log.records import InvocationSource, TargetKind
from runtime.log.routing import routing_key_of
from runtime.partition import journal as J
from runtime.partition.restarts import PrefixError, restart_prefix
from runtime.partition.status import InvocationStatus, Status, decode_status
from runtime.registry import Registry
from runtime.settings import Settings
from runtime.state.reads import StateReads
from sdk import engine as sj
from sdk.ids import InvalidIdError, invocation_id_for, parse_invocation_id

SETTLE_TIMEOUT_S = 5.0
"""How long pause/resume wait to see their record applied before answering."""


class ControlError(Exception):
    """A request the invocation's state refuses, answered with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class PauseOutcome(enum.Enum):
    PAUSING = 202
    ALREADY_PAUSED = 200


class RestartAsNewResponse(BaseModel):
    """``PATCH /invocations/{id}/restart-as-new``: the new invocation (Restate's shape)."""

    new_invocation_id: str = Field(description="The invocation id of the new invocation.")


KEEP = "keep"
LATEST = "latest"


class ControlBackend(Protocol):
    async def pause(self, invocation_id: str) -> PauseOutcome:
        """Raises ControlError."""
        ...

    async def resume(self, invocation_id: str, deployment: str | None) -> None:
        """Raises ControlError."""
        ...

    async def restart_as_new(
        self, invocation_id: str, upto: int | None, deployment: str | None
    ) -> str:
        """The new invocation's id; raises ControlError."""
        ...


def _not_found(invocation_id: str) -> ControlError:
    return ControlError(404, f"The invocation '{invocation_id}' does not exist")


def check_pause(invocation_id: str, st: InvocationStatus | None) -> PauseOutcome:
    """What a pause of ``st`` answers (raises ControlError when it is refused)."""
    if st is None:
        raise _not_found(invocation_id)
    if st.status is Status.PAUSED:
        return PauseOutcome.ALREADY_PAUSED
    if st.status in (Status.INVOKED, Status.SUSPENDED, Status.BACKING_OFF):
        return PauseOutcome.PAUSING
    raise ControlError(
        409,
        f"The invocation '{invocation_id}' is not running ({_shown(st)}): "
        "an invocation can be paused only when running",
    )


def check_resume(invocation_id: str, st: InvocationStatus | None, moving: bool) -> None:
    """Refuse a resume of ``st`` (``moving``: onto another deployment) with ControlError."""
    if st is None:
        raise _not_found(invocation_id)
    if st.status is Status.COMPLETED:
        raise ControlError(409, f"The invocation '{invocation_id}' is already completed")
    if st.status in (Status.SCHEDULED, Status.INBOXED):
        raise ControlError(
            425,
            f"The invocation '{invocation_id}' has not started yet ({_shown(st)}): "
            "an invocation can be resumed only when running, paused or suspended",
        )
    if moving and (st.status not in (Status.PAUSED, Status.SUSPENDED) or st.deployment is None):
        raise ControlError(
            409,
            f"The deployment of invocation '{invocation_id}' cannot be changed: it can be "
            "changed only while the invocation is paused or suspended and pinned to a "
            f"deployment (it is {_shown(st)}, "
            f"{'pinned to ' + st.deployment if st.deployment else 'not pinned'})",
        )


def check_restart(invocation_id: str, st: InvocationStatus | None) -> None:
    """Refuse a restart as new of ``st`` with ControlError."""
    if st is None:
        raise _not_found(invocation_id)
    if st.status in (Status.SCHEDULED, Status.INBOXED):
        raise ControlError(
            425, f"The invocation '{invocation_id}' has not started yet ({_shown(st)})"
        )
    if st.status is not Status.COMPLETED:
        raise ControlError(
            409,
            f"The invocation '{invocation_id}' is still running ({_shown(st)}): only "
            "completed invocations can be restarted as new (cancel or kill it first)",
        )
    if st.target.kind == TargetKind.WORKFLOW:
        raise ControlError(
            422, f"The invocation '{invocation_id}' is a workflow run: restarting workflows "
            "is not supported",
        )  # fmt: skip


def _shown(st: InvocationStatus) -> str:
    """A status under the admin API's names."""
    return describe_status(st, st.journal_len).status


def restart_invoke(st: InvocationStatus, journal: list[bytes], now_ms: int) -> records.Invoke:
    """The ``Invoke`` of a new invocation restarting the completed ``st`` (its input is
    ``journal[0]``): same target and headers, a fresh id, nobody waiting for it."""
    first = J.decode(journal[0])
    if not isinstance(first, sj.InputCommand):
        raise ControlError(410, f"The input of invocation '{st.invocation_id}' is gone")
    new_id = invocation_id_for(service=st.target.service, key=st.target.key)
    return records.Invoke(
        invocation_id=new_id,
        target=st.target,
        input=first.body,
        headers=dict(first.headers),
        source=InvocationSource.ADMIN,
        send=True,
        created_at_ms=now_ms,
        fresh_id=True,
    )


class LogControlBackend:
    """Reads statuses from Redis (the applied view); changes go through ``rt.log``."""

    def __init__(
        self,
        producer: LogProducer,
        redis: aioredis.Redis,
        settings: Settings,
        registry: Registry,
    ) -> None:
        self._producer = producer
        self._reads = StateReads(redis, settings.topic_prefix, settings.partitions)
        self._partitions = settings.partitions
        self._registry = registry

    async def _status(self, invocation_id: str) -> InvocationStatus | None:
        blob = await self._reads.status(invocation_id)
        return decode_status(blob) if blob is not None else None

    async def _append(self, invocation_id: str, rec: records.Record) -> None:
        part = partition_of_invocation(invocation_id, self._partitions)
        await self._producer.append(part, invocation_id.encode(), rec)

    async def _settled(self, invocation_id: str, done: Callable[[InvocationStatus], bool]) -> None:
        """Wait (at most ``SETTLE_TIMEOUT_S``) until the status is ``done`` or gone."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while time.monotonic() < deadline:
            st = await self._status(invocation_id)
            if st is None or st.status is Status.COMPLETED or done(st):
                return
            await asyncio.sleep(0.02)

    async def pause(self, invocation_id: str) -> PauseOutcome:
        st = await self._status(invocation_id)
        outcome = check_pause(invocation_id, st)
        if outcome is PauseOutcome.PAUSING:
            await self._append(invocation_id, records.Pause(invocation_id))
            await self._settled(invocation_id, lambda now: now.status is Status.PAUSED)
        return outcome

    async def resume(self, invocation_id: str, deployment: str | None) -> None:
        st = await self._status(invocation_id)
        moving = deployment is not None and deployment.lower() != KEEP
        check_resume(invocation_id, st, moving)
        assert st is not None
        target = self._deployment(st, deployment) if moving else None
        if st.status is Status.INVOKED:
            return  # running: nothing to resume
        await self._append(invocation_id, records.Resume(invocation_id, target))
        await self._settled(invocation_id, lambda now: now.attempt > st.attempt)

    def _deployment(self, st: InvocationStatus, wanted: str | None) -> str | None:
        """The deployment id ``wanted`` names for ``st`` (``keep``: its pin), checked."""
        service = st.target.service
        if wanted is None or wanted.lower() == KEEP:
            return st.deployment
        if wanted.lower() == LATEST:
            newest = self._registry.newest(service)
            if newest is None or newest.in_process:
                return None
            return newest.id
        d = self._registry.deployment(wanted)
        if d is None:
            raise ControlError(400, f"The deployment '{wanted}' does not exist")
        if d.service(service) is None:
            raise ControlError(
                400, f"The deployment '{wanted}' does not serve the service '{service}'"
            )
        return d.id

    async def restart_as_new(
        self, invocation_id: str, upto: int | None, deployment: str | None
    ) -> str:
        st = await self._status(invocation_id)
        check_restart(invocation_id, st)
        assert st is not None
        if deployment is not None and upto is None:
            raise ControlError(400, "'deployment' can be given only together with 'from'")
        journal = await self._reads.journal(invocation_id)
        if not journal:
            raise ControlError(
                410,
                f"The journal of invocation '{invocation_id}' is gone (past its journal "
                "retention): its input cannot be read again",
            )
        invoke = restart_invoke(st, journal, int(time.time() * 1000))
        kept: list[bytes] = []
        pin: str | None = None
        if upto is not None:
            try:
                kept = restart_prefix(journal, upto)
            except PrefixError as e:
                raise ControlError(400, str(e)) from None
            if kept and st.deployment is not None:
                pin = self._deployment(st, deployment or LATEST) or st.deployment
        rec = records.RestartAsNew(invoke, invocation_id, kept, pin)
        part = partition_of_invocation(invoke.invocation_id, self._partitions)
        await self._producer.append(part, routing_key_of(invoke.target, invoke.invocation_id), rec)
        return invoke.invocation_id


def _check_id(invocation_id: str) -> None:
    try:
        parse_invocation_id(invocation_id)
    except InvalidIdError as e:
        raise AdminApiError(400, f"Invalid invocation id: {e}") from None


def control_router(backend: ControlBackend) -> APIRouter:
    """The pause, resume and restart-as-new routes over ``backend``."""
    router = APIRouter()

    @router.patch("/invocations/{invocation_id}/pause")
    async def pause_invocation(invocation_id: str) -> Response:
        """Pause: the invocation runs no attempt until it is resumed."""
        _check_id(invocation_id)
        try:
            outcome = await backend.pause(invocation_id)
        except ControlError as e:
            raise AdminApiError(e.status, e.message) from None
        return Response(status_code=outcome.value)

    @router.patch("/invocations/{invocation_id}/resume")
    async def resume_invocation(
        invocation_id: str,
        deployment: Annotated[
            str | None,
            Query(
                description="Run on this deployment from now on: 'keep' (its pin, the "
                "default), 'latest', or a deployment id (paused or suspended, pinned "
                "invocations only)."
            ),
        ] = None,
    ) -> Response:
        """Resume: a paused or suspended invocation runs again from its journal; a
        backing-off one retries now."""
        _check_id(invocation_id)
        try:
            await backend.resume(invocation_id, deployment)
        except ControlError as e:
            raise AdminApiError(e.status, e.message) from None
        return Response(status_code=200)

    @router.patch("/invocations/{invocation_id}/restart-as-new")
    async def restart_as_new_invocation(
        invocation_id: str,
        from_: Annotated[
            int | None,
            Query(
                alias="from",
                ge=0,
                description="Keep journal entries up to this index (and the completions "
                "of their commands); default 0: only the input.",
            ),
        ] = None,
        deployment: Annotated[
            str | None,
            Query(
                description="With 'from': replay the kept entries on 'keep' (the old "
                "pin), 'latest' (the default) or a deployment id."
            ),
        ] = None,
    ) -> RestartAsNewResponse:
        """Restart a completed invocation as a new one (a new id, the same input)."""
        _check_id(invocation_id)
        try:
            new_id = await backend.restart_as_new(invocation_id, from_, deployment)
        except ControlError as e:
            raise AdminApiError(e.status, e.message) from None
        return RestartAsNewResponse(new_invocation_id=new_id)

    return router
