"""The HTTP ingress (Restate-compatible URLs). Stateless: any number may run."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.responses import JSONResponse


def create_ingress_app(service_names: Callable[[], list[str]]) -> FastAPI:
    """Build the ingress ASGI app; ``service_names`` lists the callable services."""
    app = FastAPI(title="rt ingress", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/restate/health")
    async def health() -> JSONResponse:
        return JSONResponse({"services": sorted(service_names())})

    return app
