"""Admin API for subscriptions (Restate's shape).

- ``POST /subscriptions`` with ``{"source": "kafka://<cluster>/<topic>",
  "sink": "service://<Service>/<handler>", "options": {...}}`` → ``201``
  ``{"id": "sub_…", "source", "sink", "options"}``; bad input → 400 (404 for an
  unknown service or handler) and nothing is created.
- ``GET /subscriptions`` → ``{"subscriptions": [...]}``
- ``GET /subscriptions/{id}`` → the subscription, 404 if unknown
- ``DELETE /subscriptions/{id}`` → ``202`` once the intake stopped on this node
  with its in-flight offsets committed (other nodes stop when they read it).

The cluster part of the source must be rt's own Kafka's name (setting
``kafka_cluster_name``, default ``default``): rt consumes only from its own Kafka.
"""

from __future__ import annotations

from typing import Any, Protocol

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from runtime.admin.app import AdminApiError
from runtime.subscriptions.model import Subscription, SubscriptionError


class SubscriptionsBackend(Protocol):
    async def all(self) -> list[Subscription]: ...

    async def get(self, sub_id: str) -> Subscription | None: ...

    async def create(self, source: str, sink: str, options: dict[str, Any]) -> Subscription: ...

    async def delete(self, sub_id: str) -> bool: ...


class CreateSubscriptionRequest(BaseModel):
    source: str = Field(description="kafka://<cluster>/<topic>")
    sink: str = Field(description="service://<Service>/<handler>")
    options: dict[str, Any] = Field(default_factory=dict)


class SubscriptionResponse(BaseModel):
    id: str
    source: str
    sink: str
    options: dict[str, str]


class ListSubscriptionsResponse(BaseModel):
    subscriptions: list[SubscriptionResponse]


def _out(sub: Subscription) -> SubscriptionResponse:
    return SubscriptionResponse(id=sub.id, source=sub.source, sink=sub.sink, options=sub.options)


def _not_found(sub_id: str) -> AdminApiError:
    return AdminApiError(404, f"The requested subscription '{sub_id}' does not exist")


def subscriptions_router(backend: SubscriptionsBackend) -> APIRouter:
    """The ``/subscriptions`` routes over ``backend``; its errors answer as admin errors."""
    router = APIRouter()

    @router.post("/subscriptions", status_code=201)
    async def create_subscription(body: CreateSubscriptionRequest) -> SubscriptionResponse:
        """Create a subscription: records of the topic invoke the handler."""
        try:
            return _out(await backend.create(body.source, body.sink, body.options))
        except SubscriptionError as e:
            raise AdminApiError(e.status, e.message) from None

    @router.get("/subscriptions")
    async def list_subscriptions() -> ListSubscriptionsResponse:
        """All subscriptions."""
        return ListSubscriptionsResponse(subscriptions=[_out(s) for s in await backend.all()])

    @router.get("/subscriptions/{sub_id}")
    async def get_subscription(sub_id: str) -> SubscriptionResponse:
        """One subscription."""
        sub = await backend.get(sub_id)
        if sub is None:
            raise _not_found(sub_id)
        return _out(sub)

    @router.delete("/subscriptions/{sub_id}", status_code=202, response_class=Response)
    async def delete_subscription(sub_id: str) -> Response:
        """Remove a subscription (drains and commits in-flight offsets first)."""
        if not await backend.delete(sub_id):
            raise _not_found(sub_id)
        return Response(status_code=202)

    return router
