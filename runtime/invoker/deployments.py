"""Deployments of a cluster: register, list, remove; followed on every node.

A deployment is a record of the compacted registry topic
(:mod:`runtime.invoker.deployment_record`); every node follows the topic
(:class:`~runtime.log.registry_topic.RegistryFollower`) and keeps its
:class:`~runtime.registry.Registry` in step, so a registration made through any
node's admin API is known everywhere and survives restarts.

Registration (:meth:`DeploymentCatalog.register`) runs discovery against the
endpoint (:func:`runtime.protocol.discover`), checks the manifest, and writes the
record; any failure is a :class:`DeploymentError` with the HTTP status the admin API
answers, and nothing is written. Rules (docs/decisions/0022-deployments.md):

- the same URI with the same manifest, headers and HTTP version is the deployment
  already registered (idempotent, nothing written);
- the same URI with something else is refused unless ``force`` (then the existing
  deployment is updated in place, keeping its id);
- a service whose type, or a handler whose kind, differs from the newest deployment
  serving it is refused unless ``breaking``;
- otherwise a new deployment: new id, each service at its next revision.

Owns these rules and applying records to the registry. May import the log's
registry topic, the state reads (to count pinned invocations), the registry and the
protocol client; nothing above the invoker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Producer

from runtime.invoker import deployment_record as dr
from runtime.invoker.builtins import RESERVED_PREFIX, reserved_names
from runtime.invoker.manifest_json import manifest_json
from runtime.invoker.services import ManifestError, services_from_manifest
from runtime.log.registry_topic import RegistryFollower, write
from runtime.partition.status import Status, decode_status
from runtime.protocol import (
    BadEndpointUriError,
    DiscoveredEndpoint,
    DiscoveryError,
    ProtocolMode,
    UnsupportedProtocolVersionError,
    discover,
    normalize_uri,
)
from runtime.registry import Deployment, HttpEndpoint, Registry, ServiceInfo
from runtime.state.reads import StateReads
from sdk.protocol import IdentitySigner

log = logging.getLogger("rt.deployments")

WRITE_TIMEOUT_S = 30.0
CATCH_UP_TIMEOUT_S = 60.0

Discover = Callable[..., Awaitable[DiscoveredEndpoint]]
PinnedCount = Callable[[str], Awaitable[int]]
"""How many unfinished invocations are pinned to a deployment id."""


class DeploymentError(Exception):
    """A deployment operation refused; ``status`` is the admin API's HTTP status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Registration:
    """The outcome of :meth:`DeploymentCatalog.register`."""

    deployment: Deployment
    created: bool
    """False: the deployment was already registered as is (idempotent)."""
    updated: bool = False
    """True: an existing deployment was replaced in place (``force``)."""


class DeploymentCatalog:
    """The cluster's deployments, as this node knows them from the registry topic.

    Args:
        registry: The node's service model; deployments are applied to it.
        topic: The registry topic (``<prefix>.registry``).
        kafka_config: librdkafka settings to write registry records with (a producer is
            made at the first write); None: this catalog only reads.
        pinned: Counts unfinished invocations pinned to a deployment (removal checks).
        discover_fn: Discovery (tests inject a slower or failing one).
        signer: Signs discovery requests with rt's request identity (None: unsigned).
    """

    def __init__(
        self,
        registry: Registry,
        topic: str,
        kafka_config: dict[str, Any] | None,
        pinned: PinnedCount | None = None,
        discover_fn: Discover = discover,
        signer: IdentitySigner | None = None,
    ) -> None:
        self._registry = registry
        self._signer = signer
        self._topic = topic
        self._kafka_config = kafka_config
        self._producer: Producer | None = None
        self._pinned = pinned
        self._discover = discover_fn
        self._follower: RegistryFollower | None = None
        self._lock = asyncio.Lock()

    def follow(self, follower: RegistryFollower) -> None:
        """Apply the deployment records ``follower`` reads (call before it starts)."""
        self._follower = follower
        follower.watch(dr.KEY_PREFIX, self._on_record)

    async def caught_up(self, timeout: float = CATCH_UP_TIMEOUT_S) -> None:
        """Wait until the deployments stored before start-up are known."""
        if self._follower is not None:
            await self._follower.wait_caught_up(timeout)

    # -- reads ----------------------------------------------------------------------

    async def all(self) -> list[Deployment]:
        """Every deployment, oldest first."""
        await self.caught_up()
        return self._registry.deployments()

    async def get(self, deployment_id: str) -> Deployment | None:
        """The deployment with this id, if any."""
        await self.caught_up()
        return self._registry.deployment(deployment_id)

    async def pinned(self, deployment_id: str) -> int | None:
        """Unfinished invocations pinned to the deployment (None: not countable here)."""
        return None if self._pinned is None else await self._pinned(deployment_id)

    # -- changes --------------------------------------------------------------------

    async def register(
        self,
        uri: str,
        *,
        use_http_11: bool = False,
        additional_headers: Mapping[str, str] | None = None,
        force: bool = False,
        breaking: bool = False,
        dry_run: bool = False,
    ) -> Registration:
        """Discover the endpoint at ``uri`` and register what it serves.

        Raises:
            DeploymentError: bad URI, unreachable endpoint, bad manifest, unsupported
                protocol (400), or a conflict with what is registered (409).
                Nothing is registered.
        """
        endpoint, manifest, services = await self._discovered(
            uri, use_http_11, dict(additional_headers or {})
        )
        await self.caught_up()
        async with self._lock:
            same_uri = self._at_uri(endpoint.uri)
            if same_uri is not None:
                if same_uri.endpoint == endpoint and same_uri.manifest == manifest:
                    return Registration(same_uri, created=False)
                if not force:
                    raise DeploymentError(
                        f"deployment {same_uri.id} already registers {endpoint.uri} with other "
                        "services, options or connection settings; register with force to "
                        "update it in place (invocations pinned to it then run the new code)",
                        409,
                    )
            self._check_compatible(services, same_uri, breaking)
            revisions = {
                s.name: (
                    same_uri.service(s.name).revision  # type: ignore[union-attr]
                    if same_uri is not None and same_uri.service(s.name) is not None
                    else self._registry.next_revision(s.name)
                )
                for s in services
            }
            dep_id = same_uri.id if same_uri is not None else dr.new_deployment_id()
            created_ms = same_uri.created_at_ms if same_uri is not None else _now_ms()
            deployment = dr.build(
                dep_id, endpoint, manifest, revisions, self._registry.defaults,
                created_at_ms=created_ms,
            )  # fmt: skip
            if not dry_run:
                await self._write(dr.record_key(dep_id), dr.encode(deployment))
                self._registry.put_deployment(deployment)
                log.info(
                    "deployment %s %s: %s at %s",
                    dep_id,
                    "updated" if same_uri is not None else "registered",
                    ", ".join(s.name for s in services),
                    endpoint.uri,
                )
            return Registration(deployment, created=same_uri is None, updated=same_uri is not None)

    async def update(
        self,
        deployment_id: str,
        *,
        uri: str | None = None,
        use_http_11: bool | None = None,
        additional_headers: Mapping[str, str] | None = None,
        dry_run: bool = False,
    ) -> Deployment:
        """Update a deployment in place (same id, same revisions): move it to another URI,
        change its headers or HTTP version — for emergencies. The endpoint is discovered
        again and must serve the same services with the same types and handler kinds.

        Raises:
            DeploymentError: unknown id (404); discovery failures (400); other services,
                an incompatible change, or a URI another deployment has (409).
        """
        await self.caught_up()
        current = self._registry.deployment(deployment_id)
        if current is None:
            raise DeploymentError(f"deployment {deployment_id} does not exist", 404)
        old = current.endpoint
        if not isinstance(old, HttpEndpoint):
            raise DeploymentError(f"deployment {deployment_id} is not an HTTP endpoint")
        endpoint, manifest, services = await self._discovered(
            uri or old.uri,
            old.use_http_11 if use_http_11 is None else use_http_11,
            dict(old.additional_headers if additional_headers is None else additional_headers),
        )
        async with self._lock:
            other = self._at_uri(endpoint.uri)
            if other is not None and other.id != deployment_id:
                raise DeploymentError(
                    f"deployment {other.id} already registers {endpoint.uri}", 409
                )
            names, new_names = (
                sorted(s.name for s in current.services),
                sorted(s.name for s in services),
            )
            if names != new_names:
                raise DeploymentError(
                    f"an in-place update must serve the same services: {deployment_id} serves "
                    f"{', '.join(names)}, {endpoint.uri} serves {', '.join(new_names)}",
                    409,
                )
            problems = _incompatible(services, current.service)
            if problems:
                raise DeploymentError("incompatible update: " + "; ".join(problems), 409)
            revisions = {s.name: s.revision for s in current.services}
            updated = dr.build(
                deployment_id, endpoint, manifest, revisions, self._registry.defaults,
                created_at_ms=current.created_at_ms,
            )  # fmt: skip
            if not dry_run:
                await self._write(dr.record_key(deployment_id), dr.encode(updated))
                self._registry.put_deployment(updated)
                log.info("deployment %s updated in place: %s", deployment_id, endpoint.uri)
            return updated

    async def remove(self, deployment_id: str, *, force: bool = False) -> Deployment:
        """Remove a deployment.

        Raises:
            DeploymentError: unknown id (404); invocations still pinned to it and not
                ``force`` (409).
        """
        await self.caught_up()
        async with self._lock:
            deployment = self._registry.deployment(deployment_id)
            if deployment is None:
                raise DeploymentError(f"deployment {deployment_id} does not exist", 404)
            if not force:
                pinned = await self.pinned(deployment_id)
                if pinned:
                    raise DeploymentError(
                        f"deployment {deployment_id} still has {pinned} unfinished "
                        "invocation(s) pinned to it; wait until they finish (they are "
                        "draining) or remove it with force (they then fail to find it)",
                        409,
                    )
            await self._write(dr.record_key(deployment_id), None)
            self._registry.remove_deployment(deployment_id)
            log.info("deployment %s removed", deployment_id)
            return deployment

    async def close(self) -> None:
        """Flush and drop the registry producer, if one was made."""
        if self._producer is not None:
            await asyncio.to_thread(self._producer.flush, 10)
            self._producer = None

    async def _discovered(
        self, uri: str, use_http_11: bool, headers: dict[str, str]
    ) -> tuple[HttpEndpoint, dict[str, Any], list[ServiceInfo]]:
        """Discovery of ``uri``: the endpoint, its manifest (Restate's JSON), its services."""
        try:
            uri = normalize_uri(uri)
        except BadEndpointUriError as e:
            raise DeploymentError(str(e)) from None
        try:
            found = await self._discover(
                uri, use_http_11=use_http_11, headers=headers, signer=self._signer
            )
        except UnsupportedProtocolVersionError as e:
            raise DeploymentError(f"unsupported service protocol: {e}") from None
        except DiscoveryError as e:
            raise DeploymentError(f"discovery failed: {e}") from None
        manifest = manifest_json(found.manifest)
        try:
            services = services_from_manifest(manifest, self._registry.defaults)
        except ManifestError as e:
            raise DeploymentError(f"bad manifest from {uri}: {e}") from None
        if not services:
            raise DeploymentError(f"the endpoint {uri} serves no services")
        taken = reserved_names(s.name for s in services)
        if taken:
            raise DeploymentError(
                f"the endpoint {uri} serves {', '.join(taken)}: service names starting with "
                f"{RESERVED_PREFIX!r} are reserved for rt's built-in services"
            )
        endpoint = HttpEndpoint(
            uri=found.uri,
            protocol_version=found.manifest.protocol_version,
            bidi=found.protocol_mode is ProtocolMode.BIDI_STREAM,
            use_http_11=use_http_11,
            additional_headers=headers,
            min_protocol_version=found.manifest.min_protocol_version,
            max_protocol_version=found.manifest.max_protocol_version,
            sdk_version=found.server,
        )
        return endpoint, manifest, services

    # -- internals ------------------------------------------------------------------

    def _at_uri(self, uri: str) -> Deployment | None:
        for d in self._registry.deployments():
            if isinstance(d.endpoint, HttpEndpoint) and d.endpoint.uri == uri:
                return d
        return None

    def _check_compatible(
        self, services: list[ServiceInfo], replacing: Deployment | None, breaking: bool
    ) -> None:
        if breaking:
            return
        problems = _incompatible(services, lambda name: self._current(name, replacing))
        if problems:
            raise DeploymentError(
                "breaking changes (register with breaking to accept them): " + "; ".join(problems),
                409,
            )

    def _current(self, name: str, replacing: Deployment | None) -> ServiceInfo | None:
        newest = self._registry.newest(name)
        if newest is not None and replacing is not None and newest.id == replacing.id:
            return replacing.service(name)
        return self._registry.get(name)

    async def _write(self, key: bytes, value: bytes | None) -> None:
        if self._kafka_config is None:
            raise DeploymentError("this node cannot write the registry", 503)
        if self._producer is None:
            self._producer = Producer(
                {**self._kafka_config, "enable.idempotence": True, "acks": "all", "log_level": 2}
            )
        await asyncio.to_thread(write, self._producer, self._topic, key, value, WRITE_TIMEOUT_S)

    def _on_record(self, deployment_id: str, value: bytes | None) -> None:
        if value is None:
            self._registry.remove_deployment(deployment_id)
            return
        try:
            deployment = dr.decode(value, self._registry.defaults)
        except ValueError as e:
            log.error("registry: undecodable deployment record %s, ignored: %s", deployment_id, e)
            return
        self._registry.put_deployment(deployment)


def _incompatible(
    services: list[ServiceInfo], current: Callable[[str], ServiceInfo | None]
) -> list[str]:
    """Type changes of services and kind changes of handlers against ``current``."""
    problems: list[str] = []
    for new in services:
        old_service = current(new.name)
        if old_service is None:
            continue
        if old_service.ty is not new.ty:
            problems.append(
                f"service {new.name} changes type from {old_service.ty.value} to {new.ty.value}"
            )
            continue
        for name, handler in new.handlers.items():
            old = old_service.handlers.get(name)
            if old is not None and old.kind is not handler.kind:
                problems.append(
                    f"handler {new.name}/{name} changes kind from {_kind(old.kind)} "
                    f"to {_kind(handler.kind)}"
                )
    return problems


def pinned_counter(reads: StateReads) -> PinnedCount:
    """Counts the unfinished invocations pinned to a deployment from the applied view
    (every partition's active index): what removal without ``force`` refuses on."""

    async def count(deployment_id: str) -> int:
        n = 0
        async for inv in reads.active():
            st = decode_status(inv.status)
            if st.deployment == deployment_id and st.status is not Status.COMPLETED:
                n += 1
        return n

    return count


def _kind(kind: Any) -> str:
    return "none" if kind is None else str(kind.value)


def _now_ms() -> int:
    return int(time.time() * 1000)
