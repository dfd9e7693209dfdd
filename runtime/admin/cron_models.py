"""Wire models of the ``/cron`` admin routes (light: the CLI imports them)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class CronCreateRequest(BaseModel):
    """Body of ``POST /cron``."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(
        default=None, description="Job id ([A-Za-z0-9._-], ≤ 128); drawn if absent."
    )
    schedule: str | None = Field(default=None, description="Cron expression (UTC).")
    every: str | None = Field(default=None, description="Fixed interval, e.g. 30s, PT1M.")
    target: str = Field(description="Svc/handler or Obj/key/handler.")
    body: Any = Field(default=None, description="JSON input of each invocation.")


class CronJobResponse(BaseModel):
    """A cron job as the admin API shows it."""

    id: str
    target: str
    schedule: str | None
    every_ms: int | None
    body: Any
    created_at: str
    next_run: str | None
    last_run: str | None
    last_invocation_id: str | None


class ListCronJobsResponse(BaseModel):
    jobs: list[CronJobResponse]
