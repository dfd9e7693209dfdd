"""A small synchronous client of the rt admin API, for the CLI."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import httpx
from pydantic import BaseModel, ValidationError

from runtime.admin.invocation_models import (
    InvocationDescription,
    InvocationList,
    InvocationWithJournal,
)
from runtime.admin.metadata import (
    VERSION_MISMATCH_HEADER,
    ListServicesResponse,
    ObjectStateResponse,
    ServiceMetadata,
)

DEFAULT_ADMIN_URL = "http://127.0.0.1:9070"
"""Where ``rt dev`` serves the admin API unless told otherwise."""
TOKEN_ENV = "RT_ADMIN_TOKEN"  # noqa: S105 - the variable's name, not a secret
"""The environment variable holding the bearer token the CLI sends to the admin API."""

_M = TypeVar("_M", bound=BaseModel)


class ErrorKind(StrEnum):
    """Why an admin call failed, as the CLI's exit code tells scripts."""

    UNREACHABLE = "unreachable"
    """No answer: connection refused, timed out, or the URL is not the admin API."""
    NOT_FOUND = "not-found"
    """The API answered 404: the service, invocation, subscription or job does not exist."""
    REFUSED = "refused"
    """The API refused the request (4xx other than 404): nothing changed."""
    FAILED = "failed"
    """The API failed (5xx) or answered something unexpected."""


class AdminClientError(Exception):
    """The admin API could not be reached or answered with an error.

    Args:
        message: What went wrong, ready to show to a user.
        status: The HTTP status, when the API answered.
        kind: Why it failed; derived from ``status`` when not given (no status:
            unreachable).
    """

    def __init__(
        self, message: str, status: int | None = None, kind: ErrorKind | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        if kind is None:
            if status is None:
                kind = ErrorKind.UNREACHABLE
            elif status == 404:
                kind = ErrorKind.NOT_FOUND
            elif 400 <= status < 500:
                kind = ErrorKind.REFUSED
            else:
                kind = ErrorKind.FAILED
        self.kind = kind


@dataclass(frozen=True)
class ObjectState:
    """The state of one virtual object or workflow, as read from the admin API."""

    entries: dict[str, bytes]
    """State key to value bytes."""
    version: str
    """Opaque version; pass it back to make a write conditional on this state."""


def _segment(value: str) -> str:
    return quote(value, safe="")


class AdminClient:
    """Synchronous client of the rt admin API.

    Args:
        base_url: The admin API's base URL, e.g. ``http://127.0.0.1:9070``.
        timeout: Seconds to wait for connecting and for each response.
        token: Bearer token sent with every request (default: ``RT_ADMIN_TOKEN`` from the
            environment; none when that is unset or empty).

    Raises:
        AdminClientError: If ``base_url`` is not an ``http(s)://host[:port]`` URL.

    Example:
        >>> with AdminClient("http://127.0.0.1:9070") as admin:  # doctest: +SKIP
        ...     names = [s.name for s in admin.list_services()]
    """

    def __init__(self, base_url: str, *, timeout: float = 10.0, token: str | None = None) -> None:
        try:
            url = httpx.URL(base_url)
        except httpx.InvalidURL as e:
            raise AdminClientError(f"invalid admin URL {base_url!r}: {e}") from e
        if url.scheme not in ("http", "https") or not url.host:
            raise AdminClientError(
                f"invalid admin URL {base_url!r}: expected http(s)://host[:port]"
            )
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout
        token = os.environ.get(TOKEN_ENV) if token is None else token
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, headers=headers)

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying connections."""
        self._http.close()

    def _request(self, method: str, path: str, body: Any = None) -> httpx.Response:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.ConnectError as e:
            raise AdminClientError(
                f"cannot reach the rt admin API at {self.base_url} — is `rt dev` running?"
            ) from e
        except httpx.TimeoutException as e:
            raise AdminClientError(
                f"the rt admin API at {self.base_url} did not answer within {self._timeout:g}s"
            ) from e
        except httpx.HTTPError as e:
            raise AdminClientError(
                f"request to the rt admin API at {self.base_url} failed: {e}"
            ) from e
        if response.is_error:
            message = _error_message(response)
            if response.status_code in (401, 403):
                message += (
                    f" — set {TOKEN_ENV} to an admin API token"
                    if response.status_code == 401
                    else f" — {TOKEN_ENV} holds a token that is not an admin API token"
                )
            raise AdminClientError(message, response.status_code)
        return response

    def _get(self, path: str, model: type[_M]) -> _M:
        response = self._request("GET", path)
        try:
            return model.model_validate_json(response.content)
        except ValidationError as e:
            raise AdminClientError(
                f"unexpected answer from the rt admin API at {self.base_url}{path}: "
                f"{e.error_count()} problem(s), first: {e.errors()[0]['msg']}",
                kind=ErrorKind.FAILED,
            ) from e

    def list_services(self) -> list[ServiceMetadata]:
        """All registered services (``GET /services``).

        Returns:
            The services' metadata.

        Raises:
            AdminClientError: If the call fails.
        """
        return self._get("/services", ListServicesResponse).services

    def get_service(self, name: str) -> ServiceMetadata:
        """One service (``GET /services/{name}``).

        Args:
            name: The service name.

        Returns:
            The service's metadata.

        Raises:
            AdminClientError: If the call fails (status 404 for an unknown service).
        """
        return self._get(f"/services/{_segment(name)}", ServiceMetadata)

    def get_state(self, service: str, key: str) -> ObjectState:
        """An object's state (``GET /services/{name}/state/{key}``, an rt extension).

        Args:
            service: The virtual object or workflow name.
            key: The object key.

        Returns:
            The state and its version.

        Raises:
            AdminClientError: If the call fails.
        """
        body = self._get(
            f"/services/{_segment(service)}/state/{_segment(key)}", ObjectStateResponse
        )
        return ObjectState({k: bytes(v) for k, v in body.state.items()}, body.version)

    def set_state(
        self, service: str, key: str, new_state: Mapping[str, bytes], version: str | None = None
    ) -> bool:
        """Replace an object's whole state (``POST /services/{name}/state``).

        Args:
            service: The virtual object or workflow name.
            key: The object key.
            new_state: The complete new state; keys not listed are deleted.
            version: Only write if the state still has this version.

        Returns:
            ``True`` if the write was accepted, ``False`` if it was dropped
            because the state's version no longer matched ``version``.

        Raises:
            AdminClientError: If the call fails.
        """
        body: dict[str, Any] = {
            "object_key": key,
            "new_state": {k: list(v) for k, v in new_state.items()},
        }
        if version is not None:
            body["version"] = version
        response = self._request("POST", f"/services/{_segment(service)}/state", body)
        mismatch: str = response.headers.get(VERSION_MISMATCH_HEADER, "")
        return mismatch.lower() != "true"

    def list_invocations(self, filters: Mapping[str, str | int | None]) -> InvocationList:
        """Invocations not completed yet (``GET /invocations``, an rt extension).

        Args:
            filters: ``service``, ``handler``, ``key``, ``status``, ``limit`` (None: unset).

        Returns:
            The matching invocations, oldest first, and whether more matched.

        Raises:
            AdminClientError: If the call fails (400 bad status or limit).
        """
        query = urlencode({k: v for k, v in filters.items() if v is not None})
        return self._get(f"/invocations?{query}" if query else "/invocations", InvocationList)

    def describe_invocation(self, invocation_id: str) -> InvocationDescription:
        """One invocation (``GET /invocations/{id}``, an rt extension).

        Args:
            invocation_id: The ``inv_...`` id.

        Returns:
            Its status, target, timestamps, journal size and failures.

        Raises:
            AdminClientError: If the call fails (400 malformed id, 404 unknown).
        """
        return self._get(f"/invocations/{_segment(invocation_id)}", InvocationDescription)

    def invocation_journal(self, invocation_id: str) -> InvocationWithJournal:
        """One invocation with its journal (``GET /invocations/{id}?journal=true``).

        Args:
            invocation_id: The ``inv_...`` id.

        Returns:
            The description plus the journal entries.

        Raises:
            AdminClientError: If the call fails (400 malformed id, 404 unknown).
        """
        path = f"/invocations/{_segment(invocation_id)}?journal=true"
        return self._get(path, InvocationWithJournal)

    def terminate_invocation(self, invocation_id: str, action: str) -> int:
        """``PATCH /invocations/{id}/{action}`` with ``action`` cancel, kill or purge.

        Args:
            invocation_id: The ``inv_...`` id.
            action: ``cancel``, ``kill`` or ``purge``.

        Returns:
            The HTTP status (200 done, 202 accepted and in progress).

        Raises:
            AdminClientError: If the call fails (404 unknown, 409 already completed /
                not completed for purge, 400 malformed id).
        """
        response = self._request("PATCH", f"/invocations/{_segment(invocation_id)}/{action}")
        return response.status_code

    def pause_invocation(self, invocation_id: str) -> int:
        """``PATCH /invocations/{id}/pause``.

        Args:
            invocation_id: The ``inv_...`` id.

        Returns:
            The HTTP status (202 pausing, 200 already paused).

        Raises:
            AdminClientError: If the call fails (404 unknown, 409 not running).
        """
        return self._request("PATCH", f"/invocations/{_segment(invocation_id)}/pause").status_code

    def resume_invocation(self, invocation_id: str, deployment: str | None = None) -> int:
        """``PATCH /invocations/{id}/resume[?deployment=...]``.

        Args:
            invocation_id: The ``inv_...`` id.
            deployment: ``keep``, ``latest`` or a deployment id to run on from now on.

        Returns:
            The HTTP status (200).

        Raises:
            AdminClientError: If the call fails (404 unknown, 409 completed or the
                deployment cannot change, 425 not started yet, 400 bad deployment).
        """
        query = f"?{urlencode({'deployment': deployment})}" if deployment else ""
        path = f"/invocations/{_segment(invocation_id)}/resume{query}"
        return self._request("PATCH", path).status_code

    def restart_invocation(
        self, invocation_id: str, from_index: int | None = None, deployment: str | None = None
    ) -> str:
        """``PATCH /invocations/{id}/restart-as-new[?from=N&deployment=...]``.

        Args:
            invocation_id: The ``inv_...`` id of a completed invocation.
            from_index: Keep the journal up to this entry (with the completions of its
                commands); None: only the input.
            deployment: With ``from_index``: ``keep``, ``latest`` or a deployment id.

        Returns:
            The new invocation's id.

        Raises:
            AdminClientError: If the call fails (404 unknown, 409 still running, 410
                journal gone, 422 a workflow, 425 not started, 400 bad ``from``).
        """
        params = {"from": from_index, "deployment": deployment}
        query = urlencode({k: v for k, v in params.items() if v is not None})
        path = f"/invocations/{_segment(invocation_id)}/restart-as-new" + (
            f"?{query}" if query else ""
        )
        response = self._request("PATCH", path)
        try:
            new_id = response.json()["new_invocation_id"]
        except (ValueError, KeyError, TypeError) as e:
            raise AdminClientError(
                f"unexpected answer from the rt admin API at {self.base_url}{path}",
                kind=ErrorKind.FAILED,
            ) from e
        return str(new_id)

    def create_subscription(
        self, source: str, sink: str, options: Mapping[str, str]
    ) -> dict[str, Any]:
        """Create a subscription (``POST /subscriptions``).

        Args:
            source: ``kafka://<cluster>/<topic>``.
            sink: ``service://<Service>/<handler>``.
            options: Subscription options (``auto.offset.reset``, ``format``, ``dlq`` ...).

        Returns:
            The subscription: ``{"id", "source", "sink", "options"}``.

        Raises:
            AdminClientError: If the call fails (nothing is created).
        """
        body = {"source": source, "sink": sink, "options": dict(options)}
        response = self._request("POST", "/subscriptions", body)
        result: dict[str, Any] = response.json()
        return result

    def list_subscriptions(self) -> list[dict[str, Any]]:
        """All subscriptions (``GET /subscriptions``).

        Raises:
            AdminClientError: If the call fails.
        """
        subs: list[dict[str, Any]] = self._request("GET", "/subscriptions").json()["subscriptions"]
        return subs

    def delete_subscription(self, sub_id: str) -> None:
        """Remove a subscription (``DELETE /subscriptions/{id}``).

        Raises:
            AdminClientError: If the call fails (status 404 for an unknown id).
        """
        self._request("DELETE", f"/subscriptions/{_segment(sub_id)}")

    def register_deployment(self, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        """Register an SDK endpoint (``POST /deployments``; runs the endpoint's discovery).

        Args:
            body: ``{"uri", "use_http_11", "additional_headers", "force", "breaking",
                "dry_run"}``.

        Returns:
            The HTTP status (201 registered, 200 already registered or dry run) and the
            answer ``{"id", "services", ...}``.

        Raises:
            AdminClientError: If registration is refused (nothing is registered).
        """
        response = self._request("POST", "/deployments", dict(body))
        result: dict[str, Any] = response.json()
        return response.status_code, result

    def list_deployments(self) -> list[dict[str, Any]]:
        """All deployments (``GET /deployments``).

        Raises:
            AdminClientError: If the call fails.
        """
        deps: list[dict[str, Any]] = self._request("GET", "/deployments").json()["deployments"]
        return deps

    def get_deployment(self, deployment_id: str) -> dict[str, Any]:
        """One deployment (``GET /deployments/{id}``), with its pinned invocations.

        Raises:
            AdminClientError: If the call fails (status 404 for an unknown id).
        """
        dep: dict[str, Any] = self._request("GET", f"/deployments/{_segment(deployment_id)}").json()
        return dep

    def delete_deployment(self, deployment_id: str, *, force: bool = False) -> None:
        """Remove a deployment (``DELETE /deployments/{id}``).

        Raises:
            AdminClientError: If the call fails (404 unknown, 409 invocations pinned).
        """
        query = "?force=true" if force else ""
        self._request("DELETE", f"/deployments/{_segment(deployment_id)}{query}")


def _error_message(response: httpx.Response) -> str:
    message: str | None = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        message = body["message"]
    if not message:
        message = response.text.strip() or response.reason_phrase or "no details"
    return f"{message} (HTTP {response.status_code})"
