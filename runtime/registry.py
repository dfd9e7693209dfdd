"""The service model: what the runtime knows about services, and how their options resolve.

Every entry is read from a discovery manifest (Restate's endpoint-manifest
shape, :mod:`runtime.invoker.services`), so an in-process app and a remote
deployment with the same manifest give the same entries. The ingress, admin
API, subscriptions, processors and invokers read this model, never the SDK's
objects.

Options are kept as each service and handler declared them (:class:`Options`,
``None`` where unset) next to the runtime's :class:`Defaults`; the precedence
rule — handler over service over runtime default — lives only in the
resolvers of :class:`ServiceInfo` (:meth:`ServiceInfo.retention_ms`,
:meth:`ServiceInfo.timeouts`, :meth:`ServiceInfo.retry_policy`) and their
:class:`Registry` counterparts.

Deployments (:class:`Deployment`) are immutable versions of services: each one
serves some services at one revision, and a service's entry is that of the newest
deployment serving it (highest revision). Older deployments stay known for the
invocations pinned to them (docs/decisions/0022-deployments.md).

May import only ``runtime.log.records`` (for :class:`~runtime.log.records.TargetKind`);
never the SDK, the partition, or any component above it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import overload

from runtime.log.records import TargetKind

DAY_MS = 24 * 3600 * 1000


class ServiceType(StrEnum):
    """A service's type, as the admin API names it. NEVER CHANGE a value (admin wire format)."""

    SERVICE = "Service"
    VIRTUAL_OBJECT = "VirtualObject"
    WORKFLOW = "Workflow"

    @property
    def keyed(self) -> bool:
        """True for virtual objects and workflows (their invocations carry a key)."""
        return self is not ServiceType.SERVICE


class HandlerKind(StrEnum):
    """A keyed handler's kind, as the admin API names it. NEVER CHANGE a value."""

    EXCLUSIVE = "Exclusive"
    SHARED = "Shared"
    WORKFLOW = "Workflow"  # a workflow's main (run) handler


class OnMaxAttempts(StrEnum):
    """What happens when an invocation's attempts are exhausted. NEVER CHANGE a value."""

    PAUSE = "pause"
    """Pause the invocation; an operator can resume it."""
    KILL = "kill"
    """Complete the invocation with its last failure."""


def target_kind(ty: ServiceType, kind: HandlerKind | None) -> TargetKind:
    """How invocations of a handler run, from its service type and handler kind.

    Args:
        ty: The service's type.
        kind: The handler's kind (None for plain services, or an unknown handler).

    Returns:
        ``SERVICE`` for plain services; for keyed services ``SHARED`` or ``WORKFLOW``
        by the handler's kind, else ``EXCLUSIVE``.

    Example:
        >>> target_kind(ServiceType.VIRTUAL_OBJECT, HandlerKind.SHARED)
        <TargetKind.SHARED: 'shared'>
    """
    if ty is ServiceType.SERVICE:
        return TargetKind.SERVICE
    if kind is HandlerKind.SHARED:
        return TargetKind.SHARED
    if kind is HandlerKind.WORKFLOW:
        return TargetKind.WORKFLOW
    return TargetKind.EXCLUSIVE


@dataclass(frozen=True)
class RetryOptions:
    """A retry policy as declared (the manifest's ``retryPolicy*`` fields; None: not set)."""

    initial_interval_ms: int | None = None
    max_interval_ms: int | None = None
    max_attempts: int | None = None
    exponentiation_factor: float | None = None
    on_max_attempts: OnMaxAttempts | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """A resolved retry policy of failed invocation attempts (exponential backoff).

    The defaults are Restate 1.6's ``default-retry-policy``: 500 ms, doubling up to
    1 minute, 70 attempts, then pause (about an hour of retries before an operator
    has to look at it; ``docs/operations.md``).
    """

    initial_interval_s: float = 0.5
    """Delay before the first retry."""
    exponentiation_factor: float = 2.0
    """Growth of the delay from one retry to the next."""
    max_interval_s: float = 60.0
    """Upper bound of a delay."""
    max_attempts: int | None = 70
    """Attempts in all, the first included; None: retry forever."""
    on_max_attempts: OnMaxAttempts = OnMaxAttempts.PAUSE
    """What happens once ``max_attempts`` attempts failed."""

    def delay_s(self, failed_attempts: int) -> float:
        """The delay before the next attempt, after ``failed_attempts`` failed ones.

        Example:
            >>> RetryPolicy().delay_s(3)
            2.0
        """
        grown = self.initial_interval_s * self.exponentiation_factor ** max(failed_attempts - 1, 0)
        return float(min(grown, self.max_interval_s))

    def overlaid(self, declared: RetryOptions) -> RetryPolicy:
        """This policy with the fields ``declared`` sets replaced."""
        # Zero intervals and factor read as "not set", as rt has always read them.
        return RetryPolicy(
            initial_interval_s=_s(declared.initial_interval_ms or None, self.initial_interval_s),
            exponentiation_factor=declared.exponentiation_factor or self.exponentiation_factor,
            max_interval_s=_s(declared.max_interval_ms or None, self.max_interval_s),
            max_attempts=(
                declared.max_attempts if declared.max_attempts is not None else self.max_attempts
            ),
            on_max_attempts=declared.on_max_attempts or self.on_max_attempts,
        )


@dataclass(frozen=True)
class Options:
    """Options one service or handler declares (None: not set, a wider scope decides).

    The fields are the option fields of Restate's endpoint manifest, in its units.
    """

    inactivity_timeout_ms: int | None = None
    """Ask a silent attempt to suspend after this long (0: suspend and replay at every await)."""
    abort_timeout_ms: int | None = None
    """Abort an attempt this long after it was asked to suspend."""
    journal_retention_ms: int | None = None
    """Keep journal and status of a completed invocation this long."""
    idempotency_retention_ms: int | None = None
    """Keep the result of an idempotent request this long."""
    workflow_completion_retention_ms: int | None = None
    """A workflow's main handler: keep state, promises and result this long."""
    ingress_private: bool | None = None
    """Callable only from other handlers (not HTTP or Kafka)."""
    enable_lazy_state: bool | None = None
    """The runtime answers state reads key by key instead of sending a snapshot."""
    retry_policy: RetryOptions | None = None
    """Retry policy of failed attempts (taken as a whole: a handler's replaces the service's)."""
    metadata: Mapping[str, str] | None = None
    """Free-form strings."""


@dataclass(frozen=True)
class Defaults:
    """The runtime's values where neither a handler nor its service sets an option."""

    journal_retention_ms: int = DAY_MS
    """The ``default_journal_retention_s`` setting."""
    idempotency_retention_ms: int = DAY_MS
    workflow_completion_retention_ms: int = DAY_MS
    inactivity_timeout_ms: int = 10_000
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass(frozen=True)
class Timeouts:
    """A handler's resolved attempt timeouts."""

    inactivity_s: float
    """Silence before the attempt is asked to suspend; 0 replays at every await."""
    abort_s: float | None
    """Time after that before the attempt is aborted; None: never."""

    @property
    def always_replay(self) -> bool:
        """True when the handler suspends (and replays) at every await."""
        return self.inactivity_s <= 0


@dataclass(frozen=True)
class HandlerInfo:
    """One handler of a service, as its manifest describes it."""

    name: str
    kind: HandlerKind | None  # None for plain services
    public: bool = True
    """Resolved: neither the handler nor its service is ``ingress_private``."""
    accept: str = "application/json"
    """Content types the input accepts (`*/*` for any)."""
    content_type: str = "application/json"
    """Content type of the output."""
    lazy_state: bool = False
    """Resolved ``enable_lazy_state``: the runtime answers state reads key by key."""
    input_required: bool = True
    """False when the handler takes no argument (or an Optional one): empty body allowed."""
    input_description: str | None = None
    output_description: str | None = None
    input_json_schema: dict[str, object] | None = None
    output_json_schema: dict[str, object] | None = None
    documentation: str | None = None
    options: Options = field(default_factory=Options)
    """What the handler itself declares (its service's options apply where this is None)."""


@dataclass(frozen=True)
class ServiceInfo:
    """One service, as its manifest describes it, with the runtime defaults it resolves against."""

    name: str
    ty: ServiceType
    handlers: dict[str, HandlerInfo] = field(default_factory=dict)
    public: bool = True
    documentation: str | None = None
    options: Options = field(default_factory=Options)
    """What the service declares."""
    defaults: Defaults = field(default_factory=Defaults)
    """The runtime's defaults (settings) this entry was registered with."""
    revision: int = 1
    """The service's revision: 1 for its first deployment, +1 for each later one."""
    deployment_id: str | None = None
    """The deployment this entry describes (None: not registered as a deployment)."""

    def handler(self, name: str) -> HandlerInfo | None:
        """The handler called ``name``, if the service has one."""
        return self.handlers.get(name)

    def target_kind(self, handler: str) -> TargetKind:
        """How invocations of ``handler`` run (an unknown handler of a keyed service:
        exclusive)."""
        h = self.handlers.get(handler)
        return target_kind(self.ty, h.kind if h is not None else None)

    # -- resolution: handler over service over runtime default ---------------------

    def _declared(self, handler: str | None) -> tuple[Options, Options]:
        h = self.handlers.get(handler) if handler is not None else None
        return (h.options if h is not None else _NONE), self.options

    def retention_ms(self, handler: str | None, kind: str, *, idempotent: bool) -> int:
        """How long a completed invocation of ``handler`` is kept.

        A workflow's main handler keeps its run (state, promises, result) for the
        workflow retention; an idempotent request keeps its result for the
        idempotency retention; anything else keeps its journal and status for the
        journal retention.

        Args:
            handler: The invoked handler (None or unknown: the service's options).
            kind: The invocation's :class:`~runtime.log.records.TargetKind`.
            idempotent: The request carried an idempotency key.

        Returns:
            The retention in milliseconds.
        """
        h, s = self._declared(handler)
        d = self.defaults
        if kind == TargetKind.WORKFLOW:
            return self.workflow_retention_ms
        if idempotent:
            return _first_int(
                h.idempotency_retention_ms, s.idempotency_retention_ms, d.idempotency_retention_ms
            )
        return _first_int(h.journal_retention_ms, s.journal_retention_ms, d.journal_retention_ms)

    def timeouts(self, handler: str | None) -> Timeouts:
        """The inactivity and abort timeouts of attempts of ``handler``."""
        h, s = self._declared(handler)
        inactivity = _first_int(
            h.inactivity_timeout_ms, s.inactivity_timeout_ms, self.defaults.inactivity_timeout_ms
        )
        abort = h.abort_timeout_ms if h.abort_timeout_ms is not None else s.abort_timeout_ms
        return Timeouts(max(inactivity, 0) / 1000, _s(abort, None))

    def retry_policy(self, handler: str | None) -> RetryPolicy:
        """The retry policy of failed attempts of ``handler``.

        The handler's declared policy replaces the service's as a whole; the fields
        neither sets come from the runtime's default policy.
        """
        h, s = self._declared(handler)
        declared = h.retry_policy if h.retry_policy is not None else s.retry_policy
        default = self.defaults.retry_policy
        return default if declared is None else default.overlaid(declared)

    @property
    def idempotency_retention_ms(self) -> int:
        """The service-level idempotency retention (its handlers may override it)."""
        return _first_int(
            self.options.idempotency_retention_ms, self.defaults.idempotency_retention_ms
        )

    @property
    def journal_retention_ms(self) -> int:
        """The service-level journal retention (its handlers may override it)."""
        return _first_int(self.options.journal_retention_ms, self.defaults.journal_retention_ms)

    @property
    def workflow_retention_ms(self) -> int:
        """A workflow's completion retention (that of its main handler)."""
        main = next((h for h in self.handlers.values() if h.kind is HandlerKind.WORKFLOW), None)
        declared = main.options.workflow_completion_retention_ms if main is not None else None
        return _first_int(declared, self.defaults.workflow_completion_retention_ms)


def handler_public(handler: Options, service: Options) -> bool:
    """Whether a handler may be invoked from the HTTP or Kafka ingress: its own
    ``ingress_private`` over its service's."""
    return not _first(handler.ingress_private, service.ingress_private)


def handler_lazy_state(handler: Options, service: Options) -> bool:
    """Whether the runtime answers a handler's state reads key by key: its own
    ``enable_lazy_state`` over its service's."""
    return bool(_first(handler.enable_lazy_state, service.enable_lazy_state))


_NONE = Options()


def _first(*values: bool | None) -> bool | None:
    return next((v for v in values if v is not None), None)


def _first_int(*values: int | None) -> int:
    for v in values:
        if v is not None:
            return v
    raise AssertionError("the last value is the runtime default")


@overload
def _s(ms: int | None, default: float) -> float: ...
@overload
def _s(ms: int | None, default: None) -> float | None: ...
def _s(ms: int | None, default: float | None) -> float | None:
    return ms / 1000 if ms is not None else default


@dataclass(frozen=True)
class HttpEndpoint:
    """A deployment served by an SDK endpoint over HTTP (Restate's service protocol)."""

    uri: str
    """Normalised ``http://host:port[/path]``, no trailing slash."""
    protocol_version: int
    """The negotiated service-protocol version (newest both sides speak)."""
    bidi: bool = True
    """Bidirectional streaming over HTTP/2; False: request/response."""
    use_http_11: bool = False
    """Invoked over HTTP/1.1 (request/response only)."""
    additional_headers: Mapping[str, str] = field(default_factory=dict)
    """Sent with every request to the endpoint."""
    min_protocol_version: int = 0
    max_protocol_version: int = 0
    sdk_version: str | None = None
    """The endpoint's ``x-restate-server`` header at discovery."""


@dataclass(frozen=True)
class InProcessEndpoint:
    """A deployment whose services run inside rt nodes that loaded this code (``rt dev app.py``)."""

    content: str
    """Hash of the app's code and manifest: nodes running other code do not serve it."""
    source: str = ""
    """Where the code came from (the app files), for people."""


Endpoint = HttpEndpoint | InProcessEndpoint


@dataclass(frozen=True)
class Deployment:
    """One immutable version of some services: where they run and what they declared."""

    id: str
    """``dp_`` + 26 characters; a new one for every registration."""
    endpoint: Endpoint
    services: tuple[ServiceInfo, ...]
    """The services as this deployment declares them (``revision``/``deployment_id`` set)."""
    created_at_ms: int = 0
    manifest: Mapping[str, object] = field(default_factory=dict)
    """The endpoint manifest (Restate's JSON shape) the services were read from."""

    @property
    def in_process(self) -> bool:
        """True when the services run inside rt nodes (not behind an HTTP endpoint)."""
        return isinstance(self.endpoint, InProcessEndpoint)

    def service(self, name: str) -> ServiceInfo | None:
        """The service called ``name``, if this deployment serves it."""
        return next((s for s in self.services if s.name == name), None)


class Registry:
    """Services by name (mutable: deployments can be added at run time).

    Args:
        services: The initial services.
        defaults: The runtime's defaults, for invocations of services it does not know.
    """

    def __init__(
        self, services: list[ServiceInfo] | None = None, defaults: Defaults | None = None
    ) -> None:
        self._static: dict[str, ServiceInfo] = {s.name: s for s in services or []}
        self._services: dict[str, ServiceInfo] = dict(self._static)
        self._deployments: dict[str, Deployment] = {}
        self._newest: dict[str, Deployment] = {}
        self.defaults = defaults if defaults is not None else Defaults()

    def get(self, name: str) -> ServiceInfo | None:
        return self._services.get(name)

    def names(self) -> list[str]:
        return sorted(self._services)

    def all(self) -> list[ServiceInfo]:
        return [self._services[n] for n in sorted(self._services)]

    def add(self, service: ServiceInfo) -> None:
        """Add a service that belongs to no deployment (a deployment's service wins)."""
        self._static[service.name] = service
        if service.name not in self._newest:
            self._services[service.name] = service

    # -- deployments -----------------------------------------------------------

    def put_deployment(self, deployment: Deployment) -> None:
        """Add a deployment, or replace the one with its id (an in-place update)."""
        self._deployments[deployment.id] = deployment
        self._resolve()

    def remove_deployment(self, deployment_id: str) -> Deployment | None:
        """Forget a deployment; its services fall back to the newest other one serving them."""
        gone = self._deployments.pop(deployment_id, None)
        if gone is not None:
            self._resolve()
        return gone

    def deployment(self, deployment_id: str) -> Deployment | None:
        """The deployment with this id, if known."""
        return self._deployments.get(deployment_id)

    def deployments(self) -> list[Deployment]:
        """Every known deployment, oldest first."""
        return sorted(self._deployments.values(), key=lambda d: (d.created_at_ms, d.id))

    def newest(self, service: str) -> Deployment | None:
        """The deployment new invocations of ``service`` go to (its highest revision)."""
        return self._newest.get(service)

    def next_revision(self, service: str) -> int:
        """The revision a new deployment of ``service`` gets."""
        revisions = [
            info.revision
            for d in self._deployments.values()
            if (info := d.service(service)) is not None
        ]
        return max(revisions, default=0) + 1

    def _resolve(self) -> None:
        newest: dict[str, Deployment] = {}
        for d in self.deployments():
            for info in d.services:
                best = newest.get(info.name)
                current = best.service(info.name) if best is not None else None
                if current is None or info.revision >= current.revision:
                    newest[info.name] = d
        self._newest = newest
        services = dict(self._static)
        for name, d in newest.items():
            chosen = d.service(name)
            assert chosen is not None
            services[name] = chosen
        self._services = services

    def _service(self, name: str) -> ServiceInfo:
        svc = self._services.get(name)
        return (
            svc
            if svc is not None
            else ServiceInfo(name, ServiceType.SERVICE, defaults=self.defaults)
        )

    def retention_ms(self, service: str, handler: str, kind: str, *, idempotent: bool) -> int:
        """:meth:`ServiceInfo.retention_ms` of ``service`` (unknown: the runtime defaults)."""
        return self._service(service).retention_ms(handler, kind, idempotent=idempotent)

    def timeouts(self, service: str, handler: str) -> Timeouts:
        """:meth:`ServiceInfo.timeouts` of ``service`` (unknown: the runtime defaults)."""
        return self._service(service).timeouts(handler)

    def retry_policy(self, service: str, handler: str) -> RetryPolicy:
        """:meth:`ServiceInfo.retry_policy` of ``service`` (unknown: the runtime default)."""
        return self._service(service).retry_policy(handler)
