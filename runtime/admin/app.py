"""The admin API: Restate's admin REST shape for what rt has (port 9070 by default).

Endpoints (as in Restate's admin API):

- ``GET /health``, ``GET /version``
- ``GET /services`` → ``{"services": [ServiceMetadata, ...]}``
- ``GET /services/{name}`` → ``ServiceMetadata``
- ``GET /services/{name}/handlers`` → ``{"handlers": [HandlerMetadata, ...]}``
- ``GET /services/{name}/handlers/{handler}`` → ``HandlerMetadata``
- ``GET /services/{name}/openapi`` → OpenAPI 3.1 of the service's ingress endpoints
- ``POST /services/{name}/state`` with ``{"object_key": "k", "new_state": {"s": [byte, ...]},
  "version": optional}`` → ``202``: replaces the object's whole state (keys not listed
  are deleted) once the key's running exclusive handler, if any, has finished.
- ``GET /openapi`` → this API's own OpenAPI document (``/docs`` renders it).
- ``GET /ui/`` → the web UI (static files, a client of this API; ``GET /`` redirects
  there); ``GET /cluster`` → partitions and throughput (``runtime.admin.cluster``).
- ``GET /metrics`` → the node's Prometheus metrics (``runtime.admin.prometheus``).

rt extension, not in Restate:

- ``GET /services/{name}/state/{key}`` → ``{"service", "key", "state": {"s": [byte, ...]},
  "state_utf8": {"s": "text" | null}, "version"}``. Restate has no REST read of
  state (its CLI runs SQL over the ``state`` table); rt serves it directly.
  ``state_utf8`` holds each value decoded as UTF-8, ``null`` where it is not
  valid UTF-8. ``version`` is the same opaque hash Restate computes
  (``StateMutationVersion``); send it back in ``POST .../state`` to make the
  write conditional.

``version`` semantics: as in Restate, a write whose ``version`` differs from the
current state's version is dropped and still answered ``202``. rt compares at
admission, against the applied state, rather than when the write is applied,
so a handler that changes the state in between is not detected; a dropped
write carries the extension header ``x-rt-state-version-mismatch: true``.

Every error is JSON ``{"message": "...", "restate_code": null}`` with an HTTP
status as Restate's admin API uses it (400 bad request, 404 unknown service or
handler, 405 wrong method, 500 backend failure).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from runtime.admin.cluster import cluster_router
from runtime.admin.metadata import (
    VERSION_MISMATCH_HEADER,
    HandlerMetadata,
    ListHandlersResponse,
    ListServicesResponse,
    ModifyServiceStateRequest,
    ObjectStateResponse,
    ServiceMetadata,
    handler_metadata,
    service_metadata,
    state_version,
)
from runtime.admin.openapi import service_openapi
from runtime.admin.prometheus import metrics_router
from runtime.admin.ui import UI_PATH, ui_files
from runtime.registry import Registry, ServiceInfo
from runtime.version import __version__

if TYPE_CHECKING:
    # Type-only: the durable backend pulls in Kafka and Redis clients.
    from runtime.admin.backend import AdminBackend

__all__ = ["VERSION_MISMATCH_HEADER", "AdminApiError", "create_admin_app", "error_response"]

log = logging.getLogger("rt.admin")


class AdminApiError(Exception):
    """An admin API failure, answered as ``{"message": ...}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        """Create the error.

        Args:
            status: The HTTP status code.
            message: Human readable description, returned to the client.
        """
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The JSON error body Restate's admin API returns (``ErrorDescriptionResponse``).

    Args:
        status: The HTTP status code.
        message: Human readable description.
        headers: Extra response headers.

    Returns:
        The response.
    """
    return JSONResponse(
        {"message": message, "restate_code": None}, status_code=status, headers=headers
    )


class ErrorDescriptionResponse(BaseModel):
    """The body of every admin API error, as documented in its OpenAPI document."""

    message: str
    restate_code: str | None = None


def _document_errors(app: FastAPI) -> None:
    """Make the app's OpenAPI document describe its errors as they are answered.

    FastAPI documents a ``422`` with its own ``{"detail": ...}`` body on every
    operation that takes input; the admin API answers bad input ``400`` and every
    error in Restate's ``{"message", "restate_code"}`` shape instead. So each
    operation gets a ``default`` response with that shape, and the ``422`` goes.
    """
    generate = app.openapi

    def openapi() -> dict[str, object]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = generate()
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        schemas[ErrorDescriptionResponse.__name__] = ErrorDescriptionResponse.model_json_schema()
        error = {
            "description": "Error: bad request (400), unknown resource (404), conflict (409), ...",
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/ErrorDescriptionResponse"}
                }
            },
        }
        for path_item in doc.get("paths", {}).values():
            for operation in path_item.values():
                responses = operation.setdefault("responses", {})
                responses.pop("422", None)
                responses["default"] = error
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


def _service_not_found(name: str) -> AdminApiError:
    return AdminApiError(404, f"The requested service '{name}' does not exist")


def _loc(parts: tuple[int | str, ...]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _validation_message(exc: RequestValidationError) -> str:
    problems: list[str] = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        if loc[:1] == ("body",):
            loc = loc[1:]
        if err.get("type") == "json_invalid":
            reason = err.get("ctx", {}).get("error", err.get("msg", ""))
            problems.append(f"The request body is not valid JSON: {reason}")
        elif not loc and err.get("type") == "missing":
            problems.append("The request body is missing: expected a JSON object")
        elif not loc:
            problems.append(f"The request body is invalid. Reason: {err.get('msg', '')}")
        else:
            problems.append(
                f"The request field '{_loc(loc)}' is invalid. Reason: {err.get('msg', '')}"
            )
    return "; ".join(problems) or "The request is invalid"


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AdminApiError)
    async def _admin_error(request: Request, exc: AdminApiError) -> JSONResponse:
        return error_response(exc.status, exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            message = f"No admin API endpoint at {request.method} {request.url.path}"
        elif exc.status_code == 405:
            message = f"Method {request.method} not allowed on {request.url.path}"
        else:
            message = str(exc.detail)
        return error_response(exc.status_code, message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, _validation_message(exc))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("admin API %s %s failed", request.method, request.url.path)
        return error_response(500, f"Internal server error: {type(exc).__name__}: {exc}")


def create_admin_app(
    registry: Registry,
    backend: AdminBackend,
    *,
    ingress_url: str | None = None,
    routers: Sequence[APIRouter] = (),
) -> FastAPI:
    """Build the admin ASGI app.

    Args:
        registry: The services the node knows (read on every request, so
            services added at run time show up).
        backend: Reads and writes object state durably.
        ingress_url: Public URL of the ingress, advertised in ``GET /version``
            and in the ``servers`` of service OpenAPI documents when given.
        routers: The optional route groups, each from its module:
            ``invocations_router`` (``/invocations``), ``subscriptions_router``
            (``/subscriptions``), ``cron_router`` (``/cron``, an rt extension).

    Returns:
        The FastAPI app (serve it with uvicorn).

    Example:
        >>> app = create_admin_app(Registry(), backend)  # doctest: +SKIP
        >>> uvicorn.run(app, port=9070)  # doctest: +SKIP
    """
    app = FastAPI(
        title="rt admin",
        version=__version__,
        description="Restate-shaped admin API of rt.",
        openapi_url="/openapi",
        docs_url="/docs",
        redoc_url=None,
    )
    _install_error_handlers(app)
    _document_errors(app)
    for router in (*routers, cluster_router(registry, backend), metrics_router()):
        app.include_router(router)
    app.mount(UI_PATH, ui_files(), name="ui")

    def service_or_404(name: str) -> ServiceInfo:
        service = registry.get(name)
        if service is None:
            raise _service_not_found(name)
        return service

    def keyed_service(name: str) -> ServiceInfo:
        service = service_or_404(name)
        if not service.ty.keyed:
            raise AdminApiError(
                400,
                f"Cannot modify or read state for service type {service.ty.value}: "
                "only virtual objects and workflows have state",
            )
        return service

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse(f"{UI_PATH}/")

    @app.get("/health")
    async def health() -> dict[str, str]:
        """Liveness of the admin API."""
        return {"status": "ok"}

    @app.get("/version")
    async def version() -> dict[str, object]:
        """Server version and the admin API versions it speaks."""
        info: dict[str, object] = {
            "version": __version__,
            "min_admin_api_version": 1,
            "max_admin_api_version": 1,
        }
        if ingress_url:
            info["ingress_endpoint"] = ingress_url
        return info

    @app.get("/services")
    async def list_services() -> ListServicesResponse:
        """All registered services with their metadata."""
        return ListServicesResponse(services=[service_metadata(s) for s in registry.all()])

    @app.get("/services/{name}")
    async def get_service(name: str) -> ServiceMetadata:
        """One service's metadata."""
        return service_metadata(service_or_404(name))

    @app.get("/services/{name}/handlers")
    async def list_handlers(name: str) -> ListHandlersResponse:
        """The handlers of a service."""
        return ListHandlersResponse(handlers=service_metadata(service_or_404(name)).handlers)

    @app.get("/services/{name}/handlers/{handler}")
    async def get_handler(name: str, handler: str) -> HandlerMetadata:
        """One handler's metadata."""
        service = service_or_404(name)
        info = service.handler(handler)
        if info is None:
            raise AdminApiError(
                404,
                f"The requested handler '{handler}' on service '{name}' does not exist",
            )
        return handler_metadata(info, service_public=service.public, service=service)

    @app.get("/services/{name}/openapi")
    async def get_service_openapi(name: str) -> JSONResponse:
        """OpenAPI 3.1 document of the service's ingress endpoints."""
        service = service_or_404(name)
        doc = service_openapi(service, revision=service.revision, ingress_url=ingress_url)
        return JSONResponse(doc)

    @app.post("/services/{name}/state", status_code=202, response_class=Response)
    async def modify_service_state(name: str, body: ModifyServiceStateRequest) -> Response:
        """Replace a virtual object's or workflow's whole state (queued behind its handlers)."""
        service = keyed_service(name)
        new_state = {k: bytes(v) for k, v in body.new_state.items()}
        try:
            if body.version is not None:
                current = await backend.get_state(service.name, body.object_key)
                if state_version(current) != body.version:
                    log.info(
                        "dropping state write to %s/%s: version %s is not current",
                        service.name,
                        body.object_key,
                        body.version,
                    )
                    return Response(status_code=202, headers={VERSION_MISMATCH_HEADER: "true"})
            await backend.set_state(service.name, body.object_key, new_state)
        except Exception as e:
            log.exception("state write to %s/%s failed", service.name, body.object_key)
            raise AdminApiError(
                500, f"Failed sending the state change to the log: {type(e).__name__}: {e}"
            ) from e
        return Response(status_code=202)

    @app.get("/services/{name}/state/{key:path}")
    async def get_service_state(name: str, key: str) -> ObjectStateResponse:
        """Read a virtual object's or workflow's applied state (rt extension)."""
        service = keyed_service(name)
        try:
            state = await backend.get_state(service.name, key)
        except Exception as e:
            log.exception("state read of %s/%s failed", service.name, key)
            raise AdminApiError(500, f"Failed reading the state: {type(e).__name__}: {e}") from e
        utf8: dict[str, str | None] = {}
        for k, v in state.items():
            try:
                utf8[k] = v.decode("utf-8")
            except UnicodeDecodeError:
                utf8[k] = None
        return ObjectStateResponse(
            service=service.name,
            key=key,
            state={k: list(state[k]) for k in sorted(state)},
            state_utf8={k: utf8[k] for k in sorted(utf8)},
            version=state_version(state),
        )

    return app
