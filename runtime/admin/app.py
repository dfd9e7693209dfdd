"""The admin API (Restate's admin shape, port 9070 by default)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from runtime.version import __version__


def create_admin_app(service_names: Callable[[], list[str]]) -> FastAPI:
    """Build the admin ASGI app."""
    app = FastAPI(title="rt admin", version=__version__)

    @app.get("/health")
    async def health() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.get("/version")
    async def version() -> JSONResponse:
        return JSONResponse(
            {"version": __version__, "min_admin_api_version": 1, "max_admin_api_version": 1}
        )

    return app
