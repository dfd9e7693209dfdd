"""Admin API for deployments (Restate's shape).

- ``POST /deployments`` with ``{"uri": "http://host:9080", "use_http_11": false,
  "additional_headers": {}, "force": false, "breaking": false, "dry_run": false}``:
  discovery of the endpoint, then ``201`` ``{"id": "dp_…", "services": [ServiceMetadata],
  "min_protocol_version", "max_protocol_version", "sdk_version"}``; ``200`` with the same
  body when that endpoint is already registered as is (nothing changes) or for a dry run.
  Bad URI, unreachable endpoint, bad manifest, unsupported protocol: ``400`` naming the
  cause; a different manifest at a registered URI without ``force``, or a breaking change
  without ``breaking``: ``409``. Nothing is registered on an error.
- ``GET /deployments`` → ``{"deployments": [DeploymentResponse]}``
- ``GET /deployments/{id}`` → ``DeploymentResponse`` (with ``pinned_invocations``), 404
  if unknown
- ``PATCH /deployments/{id}`` with ``{"uri"?, "use_http_11"?, "additional_headers"?,
  "dry_run"?}`` → ``200`` ``DeploymentResponse``: updated in place (same id and revisions)
  after discovering the endpoint again; it must serve the same services compatibly (409
  otherwise). For emergencies (an endpoint moved, a header changed).
- ``DELETE /deployments/{id}?force=false`` → ``202``; ``409`` while invocations are
  pinned to it unless ``force``.

``additional_headers`` must be valid HTTP: names are RFC 9110 tokens, values visible
ASCII (spaces and tabs inside); anything else is ``400`` before discovery runs.

rt differences: ``force`` defaults to false (Restate: true), and a removal without
``force`` is supported (Restate answers 501) — see docs/decisions/0022-deployments.md.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Protocol

from fastapi import APIRouter, Response
from pydantic import AfterValidator, BaseModel, Field

from runtime.admin.app import AdminApiError
from runtime.admin.metadata import ServiceMetadata, service_metadata
from runtime.invoker.deployments import DeploymentError, Registration
from runtime.registry import Deployment, HttpEndpoint


class DeploymentsBackend(Protocol):
    async def all(self) -> list[Deployment]: ...

    async def get(self, deployment_id: str) -> Deployment | None: ...

    async def pinned(self, deployment_id: str) -> int | None: ...

    async def register(
        self,
        uri: str,
        *,
        use_http_11: bool = False,
        additional_headers: dict[str, str] | None = None,
        force: bool = False,
        breaking: bool = False,
        dry_run: bool = False,
    ) -> Registration: ...

    async def update(
        self,
        deployment_id: str,
        *,
        uri: str | None = None,
        use_http_11: bool | None = None,
        additional_headers: dict[str, str] | None = None,
        dry_run: bool = False,
    ) -> Deployment: ...

    async def remove(self, deployment_id: str, *, force: bool = False) -> Deployment: ...


_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
"""RFC 9110 ``token``: what an HTTP field name may be."""
_HEADER_VALUE = re.compile(r"[\x21-\x7e]([\x20-\x7e\t]*[\x21-\x7e])?|")
"""Visible ASCII, inner spaces and tabs: what every HTTP client sends as it is."""


def _valid_headers(headers: dict[str, str]) -> dict[str, str]:
    for name, value in headers.items():
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a valid HTTP header name")
        if not _HEADER_VALUE.fullmatch(value):
            raise ValueError(
                f"the value of header {name!r} must be visible ASCII "
                "(no control characters, no leading or trailing whitespace)"
            )
    return headers


HttpHeaders = Annotated[dict[str, str], AfterValidator(_valid_headers)]
"""Headers rt sends to an endpoint: checked when given, so discovery never fails on them."""


class RegisterDeploymentRequest(BaseModel):
    uri: str = Field(description="The SDK endpoint, e.g. http://127.0.0.1:9080")
    use_http_11: bool = Field(False, description="Discover and invoke over HTTP/1.1")
    additional_headers: HttpHeaders = Field(
        default_factory=dict, description="Headers sent with every request to the endpoint"
    )
    force: bool = Field(False, description="Update a deployment at the same URI in place")
    breaking: bool = Field(False, description="Accept incompatible service/handler changes")
    dry_run: bool = Field(False, description="Discover and check only; register nothing")


class UpdateDeploymentRequest(BaseModel):
    uri: str | None = Field(None, description="Where the endpoint now is")
    use_http_11: bool | None = Field(None, description="Invoke over HTTP/1.1")
    additional_headers: HttpHeaders | None = Field(
        None, description="Replaces the headers sent with every request"
    )
    dry_run: bool = Field(False, description="Discover and check only; change nothing")


class RegisterDeploymentResponse(BaseModel):
    id: str
    services: list[ServiceMetadata]
    min_protocol_version: int
    max_protocol_version: int
    sdk_version: str | None = None


class ServiceRevision(BaseModel):
    name: str
    revision: int


class DeploymentResponse(BaseModel):
    id: str
    uri: str | None = None
    protocol_type: str
    http_version: str
    created_at: str
    min_protocol_version: int
    max_protocol_version: int
    protocol_version: int | None = None
    sdk_version: str | None = None
    additional_headers: dict[str, str] = Field(default_factory=dict)
    services: list[ServiceRevision]
    pinned_invocations: int | None = Field(
        None, description="Unfinished invocations pinned to it (describe only)"
    )


class ListDeploymentsResponse(BaseModel):
    deployments: list[DeploymentResponse]


def deployment_response(d: Deployment, pinned: int | None = None) -> DeploymentResponse:
    """The admin view of one deployment."""
    ep = d.endpoint
    created = datetime.fromtimestamp(d.created_at_ms / 1000, UTC).isoformat()
    services = [ServiceRevision(name=s.name, revision=s.revision) for s in d.services]
    if isinstance(ep, HttpEndpoint):
        return DeploymentResponse(
            id=d.id,
            uri=ep.uri,
            protocol_type="BidiStream" if ep.bidi else "RequestResponse",
            http_version="HTTP/1.1" if ep.use_http_11 else "HTTP/2.0",
            created_at=created,
            min_protocol_version=ep.min_protocol_version,
            max_protocol_version=ep.max_protocol_version,
            protocol_version=ep.protocol_version,
            sdk_version=ep.sdk_version,
            additional_headers=dict(ep.additional_headers),
            services=services,
            pinned_invocations=pinned,
        )
    return DeploymentResponse(
        id=d.id,
        protocol_type="InProcess",
        http_version="none",
        created_at=created,
        min_protocol_version=0,
        max_protocol_version=0,
        services=services,
        pinned_invocations=pinned,
    )


def _registered(d: Deployment) -> RegisterDeploymentResponse:
    ep = d.endpoint
    http = ep if isinstance(ep, HttpEndpoint) else None
    return RegisterDeploymentResponse(
        id=d.id,
        services=[service_metadata(s) for s in d.services],
        min_protocol_version=http.min_protocol_version if http else 0,
        max_protocol_version=http.max_protocol_version if http else 0,
        sdk_version=http.sdk_version if http else None,
    )


def deployments_router(backend: DeploymentsBackend) -> APIRouter:
    """The ``/deployments`` routes over ``backend``; its errors answer as admin errors."""
    router = APIRouter()

    @router.post("/deployments", status_code=201)
    async def register_deployment(
        body: RegisterDeploymentRequest, response: Response
    ) -> RegisterDeploymentResponse:
        """Register the services an SDK endpoint serves (runs its discovery)."""
        try:
            reg = await backend.register(
                body.uri,
                use_http_11=body.use_http_11,
                additional_headers=body.additional_headers,
                force=body.force,
                breaking=body.breaking,
                dry_run=body.dry_run,
            )
        except DeploymentError as e:
            raise AdminApiError(e.status, e.message) from None
        if body.dry_run or not (reg.created or reg.updated):
            response.status_code = 200
        return _registered(reg.deployment)

    @router.get("/deployments")
    async def list_deployments() -> ListDeploymentsResponse:
        """Every deployment, oldest first."""
        return ListDeploymentsResponse(
            deployments=[deployment_response(d) for d in await backend.all()]
        )

    @router.get("/deployments/{deployment_id}")
    async def get_deployment(deployment_id: str) -> DeploymentResponse:
        """One deployment, with how many invocations are still pinned to it."""
        d = await backend.get(deployment_id)
        if d is None:
            raise AdminApiError(404, f"deployment {deployment_id} does not exist")
        return deployment_response(d, await backend.pinned(deployment_id))

    @router.patch("/deployments/{deployment_id}")
    async def update_deployment(
        deployment_id: str, body: UpdateDeploymentRequest
    ) -> DeploymentResponse:
        """Update a deployment in place (same id and revisions; for emergencies)."""
        try:
            d = await backend.update(
                deployment_id,
                uri=body.uri,
                use_http_11=body.use_http_11,
                additional_headers=body.additional_headers,
                dry_run=body.dry_run,
            )
        except DeploymentError as e:
            raise AdminApiError(e.status, e.message) from None
        return deployment_response(d)

    @router.delete("/deployments/{deployment_id}", status_code=202, response_class=Response)
    async def delete_deployment(deployment_id: str, force: bool = False) -> Response:
        """Remove a deployment (refused while invocations are pinned to it, unless force)."""
        try:
            await backend.remove(deployment_id, force=force)
        except DeploymentError as e:
            raise AdminApiError(e.status, e.message) from None
        return Response(status_code=202)

    return router
