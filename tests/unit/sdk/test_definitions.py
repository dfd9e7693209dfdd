"""Decorators: validation at decoration time, options stored for the runtime."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

import sdk as restate
from sdk import (
    Context,
    InvocationRetryPolicy,
    ObjectContext,
    ObjectSharedContext,
    WorkflowContext,
    WorkflowSharedContext,
)
from sdk.engine import HandlerKind, ServiceType, handler_definition_of
from sdk.serde import BytesSerde, DefaultSerde, JsonSerde


def test_sync_function_is_rejected() -> None:
    svc = restate.Service("S")
    with pytest.raises(TypeError, match=r"handler S\.f must be an async function"):

        @svc.handler()
        def f(ctx: Context) -> None:  # type: ignore[type-var]
            return None


@pytest.mark.parametrize(
    "source",
    [
        "async def f(): ...",
        "async def f(ctx, a, b): ...",
        "async def f(ctx, *args): ...",
        "async def f(ctx, *, a): ...",
        "async def f(ctx, **kw): ...",
    ],
)
def test_bad_signatures(source: str) -> None:
    ns: dict[str, Any] = {}
    exec(source, ns)
    svc = restate.Service("S")
    with pytest.raises(
        TypeError, match=r"must be `async def f\(ctx\)` or `async def f\(ctx, arg\)`"
    ):
        svc.handler()(ns["f"])


def test_duplicate_handler_name() -> None:
    svc = restate.Service("S")

    @svc.handler()
    async def f(ctx: Context) -> None: ...

    with pytest.raises(ValueError, match="duplicate handler name 'f' in S"):

        @svc.handler(name="f")
        async def g(ctx: Context) -> None: ...


def test_bad_kind() -> None:
    obj = restate.VirtualObject("O")
    with pytest.raises(ValueError, match="invalid handler kind 'workflow' for virtual object O"):
        obj.handler(kind="workflow")  # type: ignore[arg-type]
    wf = restate.Workflow("W")
    with pytest.raises(ValueError, match="invalid handler kind 'exclusive' for workflow W"):
        wf.handler(kind="exclusive")  # type: ignore[arg-type]


def test_context_annotation_must_match_kind() -> None:
    obj = restate.VirtualObject("O")
    with pytest.raises(TypeError, match="receives a ObjectSharedContext, but its first parameter"):

        @obj.handler(kind="shared")
        async def f(ctx: ObjectContext) -> None: ...

    svc = restate.Service("S")
    with pytest.raises(TypeError, match="receives a Context"):

        @svc.handler()
        async def g(ctx: ObjectSharedContext) -> None: ...

    wf = restate.Workflow("W")
    with pytest.raises(TypeError, match="receives a WorkflowSharedContext"):

        @wf.handler()
        async def h(ctx: WorkflowContext) -> None: ...

    # Broader annotations are fine.
    @obj.handler(kind="shared")
    async def ok1(ctx: Context) -> None: ...

    @wf.main()
    async def ok2(ctx: ObjectContext) -> None: ...


def test_one_workflow_main() -> None:
    wf = restate.Workflow("W")

    @wf.main()
    async def run(ctx: WorkflowContext) -> None: ...

    with pytest.raises(ValueError, match="already has a main handler"):

        @wf.main()
        async def run2(ctx: WorkflowContext) -> None: ...


def test_unresolvable_annotation() -> None:
    svc = restate.Service("S")
    with pytest.raises(TypeError, match="cannot resolve the type annotations"):

        @svc.handler()
        async def f(ctx: Context, x: NotDefined) -> None: ...  # type: ignore[name-defined] # noqa: F821


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"inactivity_timeout": 5}, TypeError),
        ({"abort_timeout": timedelta(seconds=-1)}, ValueError),
        ({"metadata": {"a": 1}}, TypeError),
        ({"ingress_private": "yes"}, TypeError),
        ({"invocation_retry_policy": {"max_attempts": 3}}, TypeError),
        ({"accept": ""}, ValueError),
        ({"input_serde": object()}, TypeError),
        ({"name": "bad/name"}, ValueError),
    ],
)
def test_bad_handler_options(kwargs: dict[str, Any], error: type[Exception]) -> None:
    svc = restate.Service("S")
    with pytest.raises(error):

        @svc.handler(**kwargs)
        async def f(ctx: Context) -> None: ...


def test_bad_service_options() -> None:
    with pytest.raises(ValueError, match="invalid service name"):
        restate.Service("")
    with pytest.raises(TypeError):
        restate.VirtualObject("O", journal_retention="1d")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_attempts"):
        InvocationRetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="on_max_attempts"):
        InvocationRetryPolicy(on_max_attempts="retry")  # type: ignore[arg-type]


def test_unknown_options_fail_like_a_plain_signature() -> None:
    """Options are typed ``**kwargs``; a misspelt or misplaced one must still fail loudly."""
    with pytest.raises(TypeError, match="unexpected keyword argument 'enable_lazy_state'"):
        restate.Service("S", enable_lazy_state=True)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'retention'"):
        restate.VirtualObject("O", retention=timedelta(1))  # type: ignore[call-arg]
    wf = restate.Workflow("W")
    with pytest.raises(TypeError, match="unexpected keyword argument 'idempotency_retention'"):
        wf.main(idempotency_retention=timedelta(1))  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="unexpected keyword argument 'workflow_retention'"):
        wf.handler(workflow_retention=timedelta(1))  # type: ignore[call-overload]
    assert wf.handlers == {}


def test_options_are_stored_and_resolved() -> None:
    policy = InvocationRetryPolicy(initial_interval=timedelta(seconds=1), max_attempts=3)
    obj = restate.VirtualObject(
        "O",
        description="objects",
        metadata={"team": "a"},
        inactivity_timeout=timedelta(minutes=1),
        idempotency_retention=timedelta(days=1),
        enable_lazy_state=True,
        invocation_retry_policy=policy,
    )

    @obj.handler(kind="shared", inactivity_timeout=timedelta(0), ingress_private=True)
    async def peek(ctx: ObjectSharedContext) -> int:
        """Peek at the object."""
        return 1

    d = obj.handlers["peek"]
    assert d.kind is HandlerKind.SHARED and d.service_type is ServiceType.VIRTUAL_OBJECT
    assert d.options.description == "Peek at the object."
    assert d.service_options.metadata == {"team": "a"}
    eff = d.effective
    assert eff.inactivity_timeout == timedelta(0) and eff.always_replay
    assert eff.idempotency_retention == timedelta(days=1)
    assert eff.enable_lazy_state and eff.ingress_private
    assert eff.invocation_retry_policy is policy
    assert not d.is_exclusive and d.is_keyed
    assert d.context_type is ObjectSharedContext
    assert handler_definition_of(peek) is d


def test_bare_decorators_and_names() -> None:
    svc = restate.Service("S")

    @svc.handler
    async def bare(ctx: Context) -> str:
        return "x"

    @svc.handler("renamed")
    async def original(ctx: Context) -> str:
        return "y"

    wf = restate.Workflow("W")

    @wf.main
    async def run(ctx: WorkflowContext) -> None: ...

    @wf.handler
    async def signal(ctx: WorkflowSharedContext) -> None: ...

    assert sorted(svc.handlers) == ["bare", "renamed"]
    assert wf.handlers["run"].kind is HandlerKind.WORKFLOW
    assert wf.handlers["signal"].kind is HandlerKind.SHARED
    assert handler_definition_of(original).name == "renamed"


async def test_decorated_function_still_callable() -> None:
    svc = restate.Service("S")

    @svc.handler()
    async def add(ctx: Context, n: int) -> int:
        return n + 1

    assert await add(None, 1) == 2  # type: ignore[arg-type]
    assert add.__name__ == "add"


@dataclass
class Point:
    x: int
    y: int


def test_serdes_inferred_from_annotations() -> None:
    svc = restate.Service("S")

    @svc.handler()
    async def typed(ctx: Context, p: Point) -> list[Point]:
        return [p]

    @svc.handler()
    async def raw(ctx: Context, data: bytes) -> bytes:
        return data

    @svc.handler(input_serde=JsonSerde(), accept="*/*")
    async def custom(ctx: Context, data: Any) -> None: ...

    @svc.handler()
    async def no_input(ctx: Context): ...  # type: ignore[no-untyped-def]

    t = svc.handlers["typed"]
    assert isinstance(t.input_serde, DefaultSerde) and t.input_serde.type_hint is Point
    assert t.output_type == list[Point]
    assert t.input_serde.deserialize(b'{"x":1,"y":2}') == Point(1, 2)
    assert isinstance(svc.handlers["raw"].input_serde, BytesSerde)
    assert isinstance(svc.handlers["custom"].input_serde, JsonSerde)
    assert svc.handlers["no_input"].arity == 1
    assert svc.handlers["no_input"].output_type is None


def test_app_validation() -> None:
    a = restate.Service("A")
    with pytest.raises(ValueError, match="duplicate service name 'A'"):
        restate.app([a, restate.Service("A")])
    with pytest.raises(ValueError, match="workflow 'W' has no main handler"):
        restate.app([restate.Workflow("W")])
    with pytest.raises(TypeError, match="app\\(\\) takes"):
        restate.app([object()])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="protocol"):
        restate.app([a], protocol="grpc")  # type: ignore[arg-type]


def test_handler_definition_of_rejects_plain_functions() -> None:
    async def plain(ctx: Context) -> None: ...

    with pytest.raises(TypeError, match="is not a handler"):
        handler_definition_of(plain)


def test_app_registry() -> None:
    from tests.unit.sdk import handlers as h

    app = h.APP
    assert app.service_type("Counter") is ServiceType.VIRTUAL_OBJECT
    assert app.handler_kind("Counter", "get") is HandlerKind.SHARED
    assert app.handler_kind("Payments", "charge") is None
    assert app.handler("Signup", "signup_run").kind is HandlerKind.WORKFLOW
    with pytest.raises(KeyError, match="service 'Nope' not found"):
        app.service("Nope")
    with pytest.raises(KeyError, match="handler 'nope' not found in service 'Counter'"):
        app.handler("Counter", "nope")
