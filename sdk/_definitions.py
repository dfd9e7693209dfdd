"""Service, VirtualObject and Workflow definitions and their handlers (private).

Everything is validated when the decorator runs, so a mistake fails at import
time with a message naming the handler. Options are kept as frozen dataclasses
(:class:`ServiceOptions`, :class:`HandlerOptions`) that the runtime reads;
:attr:`HandlerDefinition.effective` resolves handler-over-service precedence.
"""

from __future__ import annotations

import enum
import functools
import inspect
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, fields
from datetime import timedelta
from typing import Any, Literal, TypedDict, TypeVar, Unpack, cast, overload

from sdk._serde_infer import is_raw_bytes, resolve_type_hints
from sdk.context import (
    Context,
    ObjectContext,
    ObjectSharedContext,
    WorkflowContext,
    WorkflowSharedContext,
)
from sdk.serde import BytesSerde, DefaultSerde, Serde

F = TypeVar("F", bound=Callable[..., Any])

ContextManagerFactory = Callable[[], AbstractAsyncContextManager[Any]]
"""Called once per attempt; the handler runs inside the context manager it returns."""


class _CommonKwargs(TypedDict, total=False):
    """Options services and handlers share (restate-sdk's names; a handler's overrides)."""

    metadata: dict[str, str] | None
    """Free-form string map shown by the admin API."""
    inactivity_timeout: timedelta | None
    """Ask a silent attempt to suspend after this long (``timedelta(0)`` replays at every await)."""
    abort_timeout: timedelta | None
    """Abort an attempt this long after it was asked to suspend."""
    journal_retention: timedelta | None
    """Keep journals of completed invocations this long."""
    ingress_private: bool | None
    """Only callable from other handlers (not HTTP or Kafka)."""
    invocation_retry_policy: InvocationRetryPolicy | None
    """Retry policy of failed attempts."""
    invocation_context_managers: list[ContextManagerFactory] | None
    """Entered around every attempt, outermost first (the service's outside the handler's)."""


class ServiceKwargs(_CommonKwargs, total=False):
    """Keyword options of ``Service(...)``."""

    idempotency_retention: timedelta | None
    """Keep results of idempotent requests this long (default 24 h)."""


class KeyedServiceKwargs(ServiceKwargs, total=False):
    """Keyword options of ``VirtualObject(...)`` and ``Workflow(...)``."""

    enable_lazy_state: bool | None
    """Fetch state key by key instead of an eager snapshot."""


class HandlerKwargs(_CommonKwargs, total=False):
    """Keyword options every handler decorator takes."""

    accept: str
    """Accepted input content types (wildcards allowed; default application/json)."""
    content_type: str
    """Output content type (default application/json)."""
    input_serde: Serde[Any]
    """Input serde (default: from the parameter's annotation)."""
    output_serde: Serde[Any]
    """Output serde (default: from the return annotation)."""


class ServiceHandlerKwargs(HandlerKwargs, total=False):
    """Keyword options of ``@service.handler``."""

    idempotency_retention: timedelta | None
    """See :attr:`ServiceKwargs.idempotency_retention`."""


class KeyedHandlerKwargs(ServiceHandlerKwargs, total=False):
    """Keyword options of ``@virtual_object.handler`` and ``@workflow.handler``."""

    enable_lazy_state: bool | None
    """See :attr:`KeyedServiceKwargs.enable_lazy_state`."""


class MainHandlerKwargs(HandlerKwargs, total=False):
    """Keyword options of ``@workflow.main``."""

    workflow_retention: timedelta | None
    """Keep state, promises and result this long after the workflow completed."""
    enable_lazy_state: bool | None
    """See :attr:`KeyedServiceKwargs.enable_lazy_state`."""


def _reject_unknown(where: str, options: Mapping[str, object], allowed: Any) -> None:
    """``**options`` accepts any name at run time; fail like a plain signature would."""
    unknown = sorted(set(options) - set(allowed.__optional_keys__))
    if unknown:
        raise TypeError(f"{where} got an unexpected keyword argument {unknown[0]!r}")


_HANDLER_ATTR = "__rt_handler__"
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


class ServiceType(enum.Enum):
    """The three service types."""

    SERVICE = "service"
    VIRTUAL_OBJECT = "virtual_object"
    WORKFLOW = "workflow"


class HandlerKind(enum.Enum):
    """How a keyed handler runs: ``EXCLUSIVE`` holds the key's lock, ``SHARED`` does not.

    ``WORKFLOW`` is a workflow's main handler (exclusive, once per workflow id).
    Plain service handlers have no kind (``None``).
    """

    EXCLUSIVE = "exclusive"
    SHARED = "shared"
    WORKFLOW = "workflow"


@dataclass(frozen=True)
class InvocationRetryPolicy:
    """Retry policy of failed invocation attempts (read by the runtime).

    Attributes:
        initial_interval: Delay before the first retry.
        exponentiation_factor: Growth factor of the delay between retries.
        max_interval: Upper bound of the delay between retries.
        max_attempts: Max number of attempts, the first included.
        on_max_attempts: What to do when attempts are exhausted: ``"pause"`` the
            invocation (resumable by an operator) or ``"kill"`` it (complete it
            with the last failure).
    """

    initial_interval: timedelta | None = None
    exponentiation_factor: float | None = None
    max_interval: timedelta | None = None
    max_attempts: int | None = None
    on_max_attempts: Literal["pause", "kill"] | None = None

    def __post_init__(self) -> None:
        _check_duration("initial_interval", self.initial_interval)
        _check_duration("max_interval", self.max_interval)
        if self.exponentiation_factor is not None and (
            not isinstance(self.exponentiation_factor, int | float)
            or self.exponentiation_factor < 1
        ):
            raise ValueError("InvocationRetryPolicy.exponentiation_factor must be a number >= 1")
        if self.max_attempts is not None and (
            not isinstance(self.max_attempts, int) or self.max_attempts < 1
        ):
            raise ValueError("InvocationRetryPolicy.max_attempts must be an int >= 1")
        if self.on_max_attempts not in (None, "pause", "kill"):
            raise ValueError("InvocationRetryPolicy.on_max_attempts must be 'pause' or 'kill'")


def _check_duration(name: str, value: object) -> Any:
    if value is None:
        return None
    if not isinstance(value, timedelta):
        raise TypeError(f"{name} must be a datetime.timedelta, got {type(value).__name__}")
    if value < timedelta(0):
        raise ValueError(f"{name} must not be negative, got {value}")
    return value


def _check_bool(name: str, value: object) -> Any:
    if value is not None and not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return value


def _check_metadata(name: str, value: object) -> Any:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise TypeError(f"{name} must be a dict[str, str]")
    return dict(value)


def _check_context_managers(name: str, value: object) -> Any:
    if value is None:
        return ()
    if not isinstance(value, Sequence) or not all(callable(v) for v in value):
        raise TypeError(f"{name} must be a list of callables")
    return tuple(cast(Sequence[ContextManagerFactory], value))


def _check_retry_policy(name: str, value: object) -> Any:
    if value is not None and not isinstance(value, InvocationRetryPolicy):
        raise TypeError(f"{name} must be an InvocationRetryPolicy")
    return value


def _check_text(name: str, value: object) -> Any:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be a str")
    return value


def _check_media_type(name: str, value: object) -> Any:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string")
    return value


def _option(check: Callable[[str, object], Any], default: Any = None) -> Any:
    """An option field: ``check(name, value)`` validates a given value (and may normalise
    it) when the options are built, so every option is declared, checked and stored once."""
    return field(default=default, metadata={"check": check})


@dataclass(frozen=True, kw_only=True)
class ServiceOptions:
    """Options given to ``Service(...)``, ``VirtualObject(...)`` or ``Workflow(...)``.

    ``None`` means "not set": the runtime's default applies (or the handler's
    own option, which takes precedence).

    Raises:
        TypeError: An option of the wrong type.
        ValueError: An invalid option value (a negative duration).
    """

    description: str | None = _option(_check_text)
    """Documentation shown by the admin API."""
    metadata: Mapping[str, str] | None = _option(_check_metadata)
    """Free-form string map shown by the admin API."""
    inactivity_timeout: timedelta | None = _option(_check_duration)
    """Ask a silent attempt to suspend after this long; ``timedelta(0)`` = always replay."""
    abort_timeout: timedelta | None = _option(_check_duration)
    """Abort an attempt this long after it was asked to suspend."""
    journal_retention: timedelta | None = _option(_check_duration)
    """Keep the journal of completed invocations this long."""
    idempotency_retention: timedelta | None = _option(_check_duration)
    """Keep results of idempotent requests this long (default 24 h)."""
    ingress_private: bool | None = _option(_check_bool)
    """When True, only other handlers can call this service (not HTTP or Kafka)."""
    invocation_retry_policy: InvocationRetryPolicy | None = _option(_check_retry_policy)
    """Retry policy of failed attempts."""
    enable_lazy_state: bool | None = _option(_check_bool)
    """Objects/workflows: fetch state key by key instead of an eager snapshot."""
    invocation_context_managers: tuple[ContextManagerFactory, ...] = _option(
        _check_context_managers, ()
    )
    """Entered around every attempt of every handler, outermost first."""

    def __post_init__(self) -> None:
        for f in fields(self):
            checked = f.metadata["check"](f.name, getattr(self, f.name))
            object.__setattr__(self, f.name, checked)


@dataclass(frozen=True, kw_only=True)
class HandlerOptions(ServiceOptions):
    """Options given to a handler decorator: the service's options (each overrides the
    service's value) and the handler's own.

    Raises:
        TypeError: An option of the wrong type.
        ValueError: An invalid option value.
    """

    accept: str = _option(_check_media_type, "application/json")
    """Content types accepted as input at the ingress (wildcards allowed)."""
    content_type: str = _option(_check_media_type, "application/json")
    """Content type of the output."""
    workflow_retention: timedelta | None = _option(_check_duration)
    """Workflow main handler: keep state, promises and result this long after completion."""


@dataclass(frozen=True)
class EffectiveOptions:
    """A handler's options after applying handler-over-service precedence."""

    inactivity_timeout: timedelta | None
    abort_timeout: timedelta | None
    journal_retention: timedelta | None
    idempotency_retention: timedelta | None
    workflow_retention: timedelta | None
    ingress_private: bool
    invocation_retry_policy: InvocationRetryPolicy | None
    enable_lazy_state: bool

    @property
    def always_replay(self) -> bool:
        """True when ``inactivity_timeout`` is zero: suspend and replay at every await."""
        return self.inactivity_timeout is not None and self.inactivity_timeout <= timedelta(0)


@dataclass(frozen=True, eq=False)
class HandlerDefinition:
    """A registered handler: what the runtime needs to run and describe it.

    Attributes:
        service_name: The service's name.
        service_type: The service's type.
        name: The handler's name.
        kind: ``EXCLUSIVE``/``SHARED``/``WORKFLOW`` for keyed services, None for services.
        fn: The user's coroutine function ``async def f(ctx[, arg])``.
        arity: 1 (no input) or 2 (one input argument).
        input_type: The input annotation (None without input or annotation).
        output_type: The return annotation (None when absent).
        input_serde: Deserializes the input.
        output_serde: Serializes the output.
        options: The handler's own options.
        service_options: The service's options.
    """

    service_name: str
    service_type: ServiceType
    name: str
    kind: HandlerKind | None
    fn: Callable[..., Awaitable[Any]]
    arity: int
    input_type: Any
    output_type: Any
    input_serde: Serde[Any]
    output_serde: Serde[Any]
    options: HandlerOptions
    service_options: ServiceOptions

    @property
    def is_keyed(self) -> bool:
        """True for virtual object and workflow handlers (they need a key)."""
        return self.service_type is not ServiceType.SERVICE

    @property
    def is_exclusive(self) -> bool:
        """True when invocations of this handler hold the key's lock (single writer)."""
        return self.kind in (HandlerKind.EXCLUSIVE, HandlerKind.WORKFLOW)

    @functools.cached_property
    def effective(self) -> EffectiveOptions:
        """Options with handler values overriding service values (computed once: both are
        frozen, and the runtime asks on every invocation)."""
        h, s = self.options, self.service_options
        return EffectiveOptions(
            inactivity_timeout=_first(h.inactivity_timeout, s.inactivity_timeout),
            abort_timeout=_first(h.abort_timeout, s.abort_timeout),
            journal_retention=_first(h.journal_retention, s.journal_retention),
            idempotency_retention=_first(h.idempotency_retention, s.idempotency_retention),
            workflow_retention=h.workflow_retention,
            ingress_private=bool(_first(h.ingress_private, s.ingress_private)),
            invocation_retry_policy=_first(h.invocation_retry_policy, s.invocation_retry_policy),
            enable_lazy_state=bool(_first(h.enable_lazy_state, s.enable_lazy_state)),
        )

    @property
    def context_managers(self) -> tuple[ContextManagerFactory, ...]:
        """Service context managers, then the handler's."""
        return (
            *self.service_options.invocation_context_managers,
            *self.options.invocation_context_managers,
        )

    @property
    def context_type(self) -> type:
        """The context ABC the handler receives."""
        return _CONTEXT_FOR[(self.service_type, self.kind)]

    def __repr__(self) -> str:
        kind = f", kind={self.kind.value}" if self.kind else ""
        return f"HandlerDefinition({self.service_name}.{self.name}{kind})"


_CONTEXT_FOR: dict[tuple[ServiceType, HandlerKind | None], type] = {
    (ServiceType.SERVICE, None): Context,
    (ServiceType.VIRTUAL_OBJECT, HandlerKind.EXCLUSIVE): ObjectContext,
    (ServiceType.VIRTUAL_OBJECT, HandlerKind.SHARED): ObjectSharedContext,
    (ServiceType.WORKFLOW, HandlerKind.WORKFLOW): WorkflowContext,
    (ServiceType.WORKFLOW, HandlerKind.SHARED): WorkflowSharedContext,
}


def _first(a: Any, b: Any) -> Any:
    return a if a is not None else b


def _check_name(what: str, name: object) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(
            f"invalid {what} name {name!r}: use letters, digits, '_', '-' or '.', "
            "starting with a letter or '_'"
        )
    return name


def _service_options(description: str | None, options: Mapping[str, Any]) -> ServiceOptions:
    """The options of ``Service(name, description, **options)`` (names checked by the caller;
    the keyword types are the public signatures', the fields normalise them)."""
    return ServiceOptions(description=description, **options)


class ServiceDefinition:
    """Common base of :class:`Service`, :class:`VirtualObject` and :class:`Workflow`."""

    service_type: ServiceType

    def __init__(self, name: str, options: ServiceOptions) -> None:
        self._name = _check_name("service", name)
        self.options = options
        self.handlers: dict[str, HandlerDefinition] = {}

    @property
    def name(self) -> str:
        """The service name."""
        return self._name

    def handler_definition(self, name: str) -> HandlerDefinition:
        """The handler called ``name``.

        Raises:
            KeyError: No such handler.
        """
        return self.handlers[name]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._name!r}, handlers={sorted(self.handlers)})"

    def _register(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None,
        kind: HandlerKind | None,
        input_serde: Serde[Any] = DefaultSerde(),  # noqa: B008 - never mutated
        output_serde: Serde[Any] = DefaultSerde(),  # noqa: B008 - never mutated
        **options: Any,
    ) -> Callable[..., Any]:
        label = f"{self._name}.{name or getattr(fn, '__name__', '?')}"
        if not callable(fn):
            raise TypeError(f"handler {label}: expected an async function, got {fn!r}")
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(
                f"handler {label} must be an async function (async def), "
                f"got {type(fn).__name__} {getattr(fn, '__qualname__', fn)!r}"
            )
        handler_name = _check_name("handler", name if name is not None else fn.__name__)
        label = f"{self._name}.{handler_name}"
        if handler_name in self.handlers:
            raise ValueError(f"duplicate handler name {handler_name!r} in {self._name}")
        if getattr(fn, _HANDLER_ATTR, None) is not None:
            raise ValueError(f"handler {label}: this function is already a registered handler")
        main = next((h for h in self.handlers.values() if h.kind is HandlerKind.WORKFLOW), None)
        if kind is HandlerKind.WORKFLOW and main is not None:
            raise ValueError(f"workflow {self._name} already has a main handler ({main.name!r})")

        arity, input_type, output_type = _check_signature(fn, label, self.service_type, kind)
        for n, s in (("input_serde", input_serde), ("output_serde", output_serde)):
            if not isinstance(s, Serde):
                raise TypeError(f"handler {label}: {n} must be a Serde, got {s!r}")
        try:
            handler_options = HandlerOptions(description=inspect.getdoc(fn), **options)
        except (TypeError, ValueError) as e:
            raise type(e)(f"handler {label}: {e}") from None
        definition = HandlerDefinition(
            service_name=self._name,
            service_type=self.service_type,
            name=handler_name,
            kind=kind,
            fn=fn,
            arity=arity,
            input_type=input_type,
            output_type=output_type,
            input_serde=_infer_serde(input_serde, input_type),
            output_serde=_infer_serde(output_serde, output_type),
            options=handler_options,
            service_options=self.options,
        )
        self.handlers[handler_name] = definition

        @functools.wraps(fn)
        async def wrapped(*args: Any, **kwargs: Any) -> Any:
            return await fn(*args, **kwargs)

        setattr(wrapped, _HANDLER_ATTR, definition)
        return wrapped

    def _decorator(
        self,
        name: str | F | None,
        kind: HandlerKind | None,
        options: Mapping[str, object],
        allowed: Any,
    ) -> F | Callable[[F], F]:
        """The decorator of ``@svc.handler(...)``, applied at once when used bare."""
        _reject_unknown(f"{self._name}: handler decorator", options, allowed)
        opts: dict[str, Any] = dict(options)

        def register(fn: F) -> F:
            return cast(
                F, self._register(fn, name=None if callable(name) else name, kind=kind, **opts)
            )

        return register(name) if callable(name) else register


def _infer_serde(serde: Serde[Any], hint: Any) -> Serde[Any]:
    if isinstance(serde, DefaultSerde) and serde.type_hint is None:
        if hint is not None and is_raw_bytes(hint):
            return BytesSerde()
        return DefaultSerde(hint)
    return serde


def _check_signature(
    fn: Callable[..., Any], label: str, service_type: ServiceType, kind: HandlerKind | None
) -> tuple[int, Any, Any]:
    sig = inspect.signature(fn)
    params = list(sig.parameters.values())
    for p in params:
        if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            raise TypeError(
                f"handler {label} must be `async def f(ctx)` or `async def f(ctx, arg)`; "
                f"parameter {p.name!r} is {p.kind.description}"
            )
    if len(params) not in (1, 2):
        raise TypeError(
            f"handler {label} must be `async def f(ctx)` or `async def f(ctx, arg)`, "
            f"got {len(params)} parameters"
        )
    hints = resolve_type_hints(fn)
    provided = _CONTEXT_FOR[(service_type, kind)]
    ctx_hint = hints.get(params[0].name)
    if (
        isinstance(ctx_hint, type)
        and issubclass(ctx_hint, Context)
        and not issubclass(provided, ctx_hint)
    ):
        raise TypeError(
            f"handler {label} receives a {provided.__name__}, but its first parameter is "
            f"annotated {ctx_hint.__name__}"
        )
    input_type = hints.get(params[1].name) if len(params) == 2 else None
    output_type = hints.get("return")
    return len(params), input_type, output_type


def handler_definition_of(fn: object) -> HandlerDefinition:
    """The definition of a decorated handler function.

    Raises:
        TypeError: ``fn`` was not decorated with ``@svc.handler()`` (or similar).
    """
    definition = getattr(fn, _HANDLER_ATTR, None)
    if not isinstance(definition, HandlerDefinition):
        raise TypeError(
            f"{getattr(fn, '__qualname__', fn)!r} is not a handler: decorate it with "
            "@service.handler(), @object.handler() or @workflow.main()/@workflow.handler()"
        )
    return definition


# ---------------------------------------------------------------------------
# Public definition classes (signatures mirror restate-sdk).


class Service(ServiceDefinition):
    """A stateless service: handlers run concurrently, without a key.

    Args:
        name: Service name (used in URLs and calls).
        description: Documentation shown by the admin API.
        **options: restate-sdk's service options, see :class:`ServiceKwargs`
            (``metadata``, ``inactivity_timeout``, ``abort_timeout``,
            ``journal_retention``, ``idempotency_retention``, ``ingress_private``,
            ``invocation_retry_policy``, ``invocation_context_managers``).

    Raises:
        TypeError: An unknown option or an option of the wrong type.
        ValueError: An invalid name or option value.

    Example:
        >>> greeter = Service("Greeter")
        >>> @greeter.handler()
        ... async def greet(ctx: Context, name: str) -> str:
        ...     return f"Hello {name}"
    """

    service_type = ServiceType.SERVICE

    def __init__(
        self, name: str, description: str | None = None, **options: Unpack[ServiceKwargs]
    ) -> None:
        _reject_unknown(f"Service({name!r})", options, ServiceKwargs)
        super().__init__(name, _service_options(description, options))

    @overload
    def handler(self, name: F, /) -> F: ...

    @overload
    def handler(
        self, name: str | None = None, **options: Unpack[ServiceHandlerKwargs]
    ) -> Callable[[F], F]: ...

    def handler(
        self, name: str | F | None = None, **options: Unpack[ServiceHandlerKwargs]
    ) -> F | Callable[[F], F]:
        """Register a handler: ``@svc.handler()`` or bare ``@svc.handler``.

        Args:
            name: Handler name (default: the function's name).
            **options: See :class:`ServiceHandlerKwargs`; each overrides the service's.

        Returns:
            The decorator (or, used bare, the registered function).

        Raises:
            TypeError: The function is not ``async def f(ctx[, arg])``, or an unknown option.
            ValueError: Duplicate or invalid name, or invalid options.
        """
        return self._decorator(name, None, options, ServiceHandlerKwargs)


class VirtualObject(ServiceDefinition):
    """A keyed service with durable K/V state; one exclusive handler per key at a time.

    Args:
        name: Object name.
        description: Documentation shown by the admin API.
        **options: See :class:`KeyedServiceKwargs` (:class:`Service`'s options and
            ``enable_lazy_state``).

    Raises:
        TypeError: An unknown option or an option of the wrong type.
        ValueError: An invalid name or option value.

    Example:
        >>> counter = VirtualObject("Counter")
        >>> @counter.handler()
        ... async def add(ctx: ObjectContext, n: int) -> int:
        ...     total = (await ctx.get("total", type_hint=int) or 0) + n
        ...     ctx.set("total", total)
        ...     return total
    """

    service_type = ServiceType.VIRTUAL_OBJECT

    def __init__(
        self, name: str, description: str | None = None, **options: Unpack[KeyedServiceKwargs]
    ) -> None:
        _reject_unknown(f"VirtualObject({name!r})", options, KeyedServiceKwargs)
        super().__init__(name, _service_options(description, options))

    @overload
    def handler(self, name: F, /) -> F: ...

    @overload
    def handler(
        self,
        name: str | None = None,
        kind: Literal["exclusive", "shared"] | None = "exclusive",
        **options: Unpack[KeyedHandlerKwargs],
    ) -> Callable[[F], F]: ...

    def handler(
        self,
        name: str | F | None = None,
        kind: Literal["exclusive", "shared"] | None = "exclusive",
        **options: Unpack[KeyedHandlerKwargs],
    ) -> F | Callable[[F], F]:
        """Register a handler; ``kind="shared"`` handlers get a read-only context.

        Args:
            name: Handler name (default: the function's name).
            kind: ``"exclusive"`` (default; gets :class:`ObjectContext`) or
                ``"shared"`` (gets :class:`ObjectSharedContext`).
            **options: See :class:`KeyedHandlerKwargs`; each overrides the object's.

        Returns:
            The decorator (or, used bare, the registered function).

        Raises:
            TypeError: Wrong signature or context annotation, or an unknown option.
            ValueError: Bad kind, duplicate or invalid name, invalid options.
        """
        if kind is None:
            kind = "exclusive"
        if kind not in ("exclusive", "shared"):
            raise ValueError(
                f"invalid handler kind {kind!r} for virtual object {self.name}: "
                "use 'exclusive' or 'shared'"
            )
        return self._decorator(name, HandlerKind(kind), options, KeyedHandlerKwargs)


class Workflow(ServiceDefinition):
    """A workflow: a main handler run once per workflow id, plus shared handlers.

    Args:
        name: Workflow name.
        description: Documentation shown by the admin API.
        **options: See :class:`KeyedServiceKwargs` (``idempotency_retention``
            applies to shared handlers).

    Raises:
        TypeError: An unknown option or an option of the wrong type.
        ValueError: An invalid name or option value.

    Example:
        >>> signup = Workflow("Signup")
        >>> @signup.main()
        ... async def run(ctx: WorkflowContext, email: str) -> bool:
        ...     return await ctx.promise("confirmed", type_hint=bool)
        >>> @signup.handler()
        ... async def confirm(ctx: WorkflowSharedContext) -> None:
        ...     await ctx.promise("confirmed", type_hint=bool).resolve(True)
    """

    service_type = ServiceType.WORKFLOW

    def __init__(
        self, name: str, description: str | None = None, **options: Unpack[KeyedServiceKwargs]
    ) -> None:
        _reject_unknown(f"Workflow({name!r})", options, KeyedServiceKwargs)
        super().__init__(name, _service_options(description, options))

    @property
    def main_handler(self) -> HandlerDefinition | None:
        """The workflow's main handler, once registered."""
        for h in self.handlers.values():
            if h.kind is HandlerKind.WORKFLOW:
                return h
        return None

    @overload
    def main(self, name: F, /) -> F: ...

    @overload
    def main(
        self, name: str | None = None, **options: Unpack[MainHandlerKwargs]
    ) -> Callable[[F], F]: ...

    def main(
        self, name: str | F | None = None, **options: Unpack[MainHandlerKwargs]
    ) -> F | Callable[[F], F]:
        """Register the workflow's main handler (gets :class:`WorkflowContext`).

        Args:
            name: Handler name (default: the function's name, usually ``run``).
            **options: See :class:`MainHandlerKwargs`; each overrides the workflow's.

        Returns:
            The decorator (or, used bare, the registered function).

        Raises:
            ValueError: A main handler is already registered, or invalid options.
            TypeError: Wrong signature or context annotation, or an unknown option.
        """
        return self._decorator(name, HandlerKind.WORKFLOW, options, MainHandlerKwargs)

    @overload
    def handler(self, name: F, /) -> F: ...

    @overload
    def handler(
        self,
        name: str | None = None,
        *,
        kind: Literal["shared"] | None = "shared",
        **options: Unpack[KeyedHandlerKwargs],
    ) -> Callable[[F], F]: ...

    def handler(
        self,
        name: str | F | None = None,
        *,
        kind: Literal["shared"] | None = "shared",
        **options: Unpack[KeyedHandlerKwargs],
    ) -> F | Callable[[F], F]:
        """Register a shared handler (gets :class:`WorkflowSharedContext`).

        Shared handlers run concurrently with the main handler, before, during
        and after it, and typically resolve or peek promises.

        Args:
            name: Handler name (default: the function's name).
            kind: Only ``"shared"`` is valid (use :meth:`main` for the main handler).
            **options: See :class:`KeyedHandlerKwargs`; each overrides the workflow's.

        Returns:
            The decorator (or, used bare, the registered function).

        Raises:
            ValueError: Bad kind, duplicate or invalid name, invalid options.
            TypeError: Wrong signature or context annotation, or an unknown option.
        """
        if kind not in (None, "shared"):
            raise ValueError(
                f"invalid handler kind {kind!r} for workflow {self.name}: workflow handlers "
                "are 'shared'; register the main handler with @workflow.main()"
            )
        return self._decorator(name, HandlerKind.SHARED, options, KeyedHandlerKwargs)
