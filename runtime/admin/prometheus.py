"""``GET /metrics``: the node's Prometheus metrics on the admin port.

Renders :data:`runtime.metrics.REGISTRY` in the Prometheus text format after
reading, in one Redis round trip, the gauges that only Redis knows (invocations
in flight and timers pending of the partitions this node owns). Owns the route
only; what is measured is :mod:`runtime.metrics`'s.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from runtime import metrics


def metrics_router() -> APIRouter:
    """The ``/metrics`` route (kept out of the admin API's OpenAPI document: it is for
    Prometheus, not for API clients)."""
    router = APIRouter()

    @router.get("/metrics", include_in_schema=False)
    async def scrape() -> Response:
        await metrics.refresh()
        return Response(metrics.render(), media_type=metrics.CONTENT_TYPE)

    return router
