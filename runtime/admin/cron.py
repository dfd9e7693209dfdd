"""Cron jobs in the admin API — an rt extension, Restate has no equivalent.

- ``POST /cron`` with ``{"id"?, "schedule": "*/5 * * * *" | "every": "30s",
  "target": "Svc/handler" | "Obj/key/handler" | "Wf/key/handler", "body"?: <JSON>}``
  → ``201`` and the job. Without ``id`` one is drawn. Posting an existing id
  replaces the job (its ticks restart from now). ``{tick}`` in a key becomes the
  tick's UTC time (``20261122T100000Z``); a workflow's main handler needs it (a
  workflow runs once per id), its shared handlers don't. A bad schedule, an
  unknown service or handler, a missing key → ``400``/``404``, and nothing is
  created.
- ``GET /cron`` → ``{"jobs": [job, ...]}``; ``GET /cron/{id}`` → the job or ``404``.
- ``DELETE /cron/{id}`` → ``200`` and the deleted job (no tick after it), ``404``
  if there is no such job.

``schedule`` is a cron expression in UTC (5 fields, or 6 with seconds first);
``every`` takes the durations ``?delay=`` takes (``30s``, ``PT1M``, ``1500``
for ms), at least one second. A write is a record on the job's partition of
``rt.log``; the answer comes once it is applied (so ``GET`` sees it), or after
a few seconds with the job as submitted.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any, Protocol

import redis.asyncio as aioredis
from fastapi import APIRouter, Response

from runtime.admin.app import AdminApiError
from runtime.admin.cron_models import CronCreateRequest, CronJobResponse, ListCronJobsResponse
from runtime.ingress.durations import DurationError, parse_duration_ms
from runtime.ingress.responses import rfc3339_ms
from runtime.log import records
from runtime.log.producer import LogProducer, partition_of_key
from runtime.log.records import TargetKind
from runtime.log.routing import job_routing_key
from runtime.partition.cron import (
    JOB_ID,
    TICK_PLACEHOLDER,
    CronError,
    CronState,
    decode_state,
    validate_schedule,
)
from runtime.registry import Registry, ServiceType
from runtime.state.reads import StateReads

APPLY_WAIT_S = 5.0
"""How long a write waits to see itself applied before answering anyway."""


class CronBackend(Protocol):
    async def put(self, job: records.CronJob) -> CronState | None:
        """Append the definition; the applied state, or None if not applied in time."""
        ...

    async def delete(self, job_id: str) -> None:
        """Append the deletion and wait (briefly) until it is applied."""
        ...

    async def get(self, job_id: str) -> CronState | None: ...

    async def all(self) -> list[CronState]: ...


class LogCronBackend:
    """Cron definitions as records on ``rt.log``; reads from the partitions' Redis hashes."""

    def __init__(
        self, producer: LogProducer, redis: aioredis.Redis, prefix: str, partitions: int
    ) -> None:
        self._producer = producer
        self._reads = StateReads(redis, prefix, partitions)
        self._partitions = partitions

    async def _append(self, job_id: str, record: records.Record) -> None:
        key = job_routing_key(job_id)
        await self._producer.append(partition_of_key(key, self._partitions), key, record)

    async def put(self, job: records.CronJob) -> CronState | None:
        await self._append(job.id, records.CronSchedule(job))
        return await self._wait(job.id, lambda s: s is not None and s.job == job)

    async def delete(self, job_id: str) -> None:
        await self._append(job_id, records.CronDelete(job_id))
        await self._wait(job_id, lambda s: s is None)

    async def get(self, job_id: str) -> CronState | None:
        blob = await self._reads.cron_job(job_id)
        return decode_state(blob) if blob is not None else None

    async def all(self) -> list[CronState]:
        out = [decode_state(blob) for blob in await self._reads.cron_jobs()]
        return sorted(out, key=lambda s: s.job.id)

    async def _wait(self, job_id: str, done: Any) -> CronState | None:
        deadline = time.monotonic() + APPLY_WAIT_S
        while True:
            state = await self.get(job_id)
            if done(state) or time.monotonic() > deadline:
                return state
            await asyncio.sleep(0.02)


def _view(state: CronState | None, job: records.CronJob) -> CronJobResponse:
    target = job.target.text
    applied = state is not None and state.job == job
    return CronJobResponse(
        id=job.id,
        target=target,
        schedule=job.schedule,
        every_ms=job.every_ms,
        body=json.loads(job.input) if job.input else None,
        created_at=rfc3339_ms(job.created_ms),
        next_run=rfc3339_ms(state.next_ms) if state is not None and applied else None,
        last_run=(
            rfc3339_ms(state.last_tick_ms)
            if state is not None and applied and state.last_tick_ms is not None
            else None
        ),
        last_invocation_id=state.last_invocation_id if state is not None and applied else None,
    )


def _parse_target(registry: Registry, text: str) -> records.Target:
    parts = text.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise AdminApiError(
            400, f"invalid target {text!r}: expected 'Service/handler' or 'Object/key/handler'"
        )
    service = registry.get(parts[0])
    if service is None:
        raise AdminApiError(404, f"The requested service '{parts[0]}' does not exist")
    handler = service.handler(parts[-1])
    if handler is None:
        raise AdminApiError(
            404, f"The requested handler '{parts[-1]}' on service '{parts[0]}' does not exist"
        )
    kind = service.target_kind(handler.name)
    if service.ty.keyed and len(parts) != 3:
        what = "a workflow" if service.ty is ServiceType.WORKFLOW else "a virtual object"
        raise AdminApiError(400, f"'{service.name}' is {what}: target '{service.name}/key/handler'")
    if kind is TargetKind.WORKFLOW and TICK_PLACEHOLDER not in parts[1]:
        raise AdminApiError(
            400,
            f"a workflow runs once per id: put {TICK_PLACEHOLDER} in the key so that every tick "
            f"starts a run of its own, e.g. '{service.name}/{parts[1]}-{TICK_PLACEHOLDER}/"
            f"{handler.name}'",
        )
    if not service.ty.keyed and len(parts) != 2:
        raise AdminApiError(400, f"'{service.name}' is a service: target 'Service/handler'")
    key = parts[1] if len(parts) == 3 else None
    return records.Target(service.name, handler.name, key, kind)


def cron_router(registry: Registry, backend: CronBackend) -> APIRouter:
    """The ``/cron`` routes of the admin API.

    Args:
        registry: Known services, to validate targets.
        backend: Where definitions go and are read from.

    Returns:
        A router to include in the admin app.
    """
    router = APIRouter()

    @router.post("/cron", status_code=201)
    async def create_cron(body: CronCreateRequest) -> CronJobResponse:
        """Create (or replace) a recurring invocation (rt extension)."""
        job_id = body.id if body.id is not None else f"cron_{uuid.uuid4().hex[:16]}"
        if not JOB_ID.match(job_id):
            raise AdminApiError(400, f"invalid job id {job_id!r}: use 1-128 of [A-Za-z0-9._-]")
        every_ms: int | None = None
        if body.every is not None:
            try:
                every_ms = parse_duration_ms(body.every)
            except DurationError as e:
                raise AdminApiError(400, f"invalid 'every' {body.every!r}: {e}") from None
        try:
            validate_schedule(body.schedule, every_ms)
        except CronError as e:
            raise AdminApiError(400, str(e)) from None
        target = _parse_target(registry, body.target)
        handler = registry.get(target.service)
        assert handler is not None
        info = handler.handler(target.handler)
        if body.body is None and info is not None and info.input_required:
            raise AdminApiError(400, f"handler '{body.target}' needs an input: give 'body'")
        job = records.CronJob(
            id=job_id,
            target=target,
            schedule=body.schedule.strip() if body.schedule is not None else None,
            every_ms=every_ms,
            input=json.dumps(body.body).encode() if body.body is not None else b"",
            headers={"content-type": "application/json"} if body.body is not None else {},
            created_ms=int(time.time() * 1000),
            request_id=uuid.uuid4().hex,
        )
        return _view(await backend.put(job), job)

    @router.get("/cron")
    async def list_cron() -> ListCronJobsResponse:
        """All cron jobs (rt extension)."""
        return ListCronJobsResponse(jobs=[_view(s, s.job) for s in await backend.all()])

    @router.get("/cron/{job_id}")
    async def get_cron(job_id: str) -> CronJobResponse:
        """One cron job (rt extension)."""
        state = await backend.get(job_id)
        if state is None:
            raise AdminApiError(404, f"no cron job '{job_id}'")
        return _view(state, state.job)

    @router.delete("/cron/{job_id}")
    async def delete_cron(job_id: str) -> Response:
        """Delete a cron job: no tick after the deletion is applied (rt extension)."""
        state = await backend.get(job_id)
        if state is None:
            raise AdminApiError(404, f"no cron job '{job_id}'")
        await backend.delete(job_id)
        return Response(
            content=_view(state, state.job).model_dump_json(),
            media_type="application/json",
        )

    return router
