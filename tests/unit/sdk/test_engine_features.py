"""State, calls, awakeables, promises, randomness and the driver's edges."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pydantic
import pytest

import sdk as restate
from sdk import (
    Context,
    ObjectContext,
    TerminalError,
    WorkflowContext,
    WorkflowSharedContext,
    _ids,
)
from sdk.engine import (
    AttachInvocationCommand,
    Blocked,
    CallCommand,
    ClearAllStateCommand,
    Completion,
    Done,
    DriverClosedError,
    Failed,
    Failure,
    GetStateCommand,
    InputCommand,
    InvocationDescriptor,
    InvocationDriver,
    RunCommand,
    SendCommand,
    SetStateCommand,
    StateKeys,
    Value,
    Void,
)
from tests.unit.sdk import handlers as h
from tests.unit.sdk.fake_runtime import INVOCATION_ID, FakeRuntime, Script, json_value, output_json

# --- state ---------------------------------------------------------------------------------

lazy = restate.VirtualObject("LazyCounter", enable_lazy_state=True)


@lazy.handler()
async def bump(ctx: ObjectContext) -> list[Any]:
    before = await ctx.get("n", type_hint=int)
    ctx.set("n", (before or 0) + 1)
    keys = await ctx.state_keys()
    ctx.clear_all()
    after_clear = await ctx.get("n")  # answered locally: the state is known to be empty
    return [before, keys, after_clear]


async def test_eager_state_answers_locally() -> None:
    rt = FakeRuntime(h.APP.handler("Counter", "add"), input=b"2", key="k", state={"count": b"40"})
    p = await rt.step()
    assert isinstance(p.status, Done)
    assert output_json(p.status) == 42
    assert [type(e).__name__ for e in p.new_entries] == [
        "InputCommand",
        "GetStateCommand",
        "Completion",
        "SetStateCommand",
        "OutputCommand",
    ]
    assert rt.state == {"count": b"42"}


async def test_shared_handler_reads_state() -> None:
    rt = FakeRuntime(h.APP.handler("Counter", "get"), key="k", state={"count": b"7"})
    assert output_json(await rt.run()) == 7


async def test_lazy_state_needs_runtime_completions() -> None:
    rt = FakeRuntime(lazy.handlers["bump"], key="k", state={"n": b"9"})
    p = await rt.step()
    assert isinstance(p.status, Blocked) and p.status.awaiting == frozenset({1})
    assert p.new_entries == (InputCommand(), GetStateCommand(key="n"))
    status = await rt.run()
    assert output_json(status) == [9, ["n"], None]
    assert ClearAllStateCommand() in rt.journal
    assert rt.state == {}
    # The last get was answered by the SDK, not by the runtime.
    assert Completion(5, Void()) in rt.journal


async def test_effective_options_drive_lazy_state_and_always_replay() -> None:
    quick = restate.Service("Quick", inactivity_timeout=timedelta(0))

    @quick.handler()
    async def hello(ctx: Context) -> str:
        await ctx.sleep(timedelta(seconds=1))
        return "hi"

    handler = quick.handlers["hello"]
    assert handler.effective.always_replay
    driver = InvocationDriver(
        handler, InvocationDescriptor(invocation_id=INVOCATION_ID, service="Quick", handler="hello")
    )
    p = await driver.advance()
    assert isinstance(p.status, Blocked) and not p.status.resumable
    with pytest.raises(DriverClosedError):
        await driver.advance()


# --- calls, sends, ids ------------------------------------------------------------------------

caller = restate.Service("Caller")


class Order(pydantic.BaseModel):
    id: int
    items: list[str]


orders_wf = restate.Workflow("OrderFlow")


@orders_wf.main()
async def order_run(ctx: WorkflowContext, order: Order) -> Order:
    return order


@orders_wf.handler()
async def order_status(ctx: WorkflowSharedContext) -> str:
    return "running"


@caller.handler()
async def ids(ctx: Context) -> dict[str, str]:
    call = ctx.service_call(h.charge, 1)
    obj = ctx.object_call(h.reserve, "sku", 2)
    idem = ctx.service_send(h.refund, 3, idempotency_key="once")
    wf = ctx.workflow_call(order_run, "o-1", Order(id=1, items=["a"]))
    wf_shared = ctx.workflow_send(order_status, "o-1", None, send_delay=timedelta(seconds=30))
    generic = ctx.generic_call("Payments", "charge", b"9", headers={"x": "y"})
    out = {
        "call": await call.invocation_id(),
        "obj": await obj.invocation_id(),
        "idem": await idem.invocation_id(),
        "wf": await wf.invocation_id(),
        "wf_shared": await wf_shared.invocation_id(),
        "generic": await generic.invocation_id(),
        "generic_result": (await generic).decode(),
        "wf_result": (await wf).model_dump_json(),
    }
    await obj.cancel_invocation()
    ctx.cancel_invocation("inv_other")
    return out


async def test_call_ids_are_deterministic() -> None:
    script = Script(
        calls={
            ("Payments", "charge"): json_value('"charged"'),
            ("OrderFlow", "order_run"): lambda c: Value(c.param),
        }
    )
    rt = FakeRuntime(caller.handlers["ids"], script=script)
    out = output_json(await rt.run())
    assert out["call"] == _ids.child_invocation_id(INVOCATION_ID, 1, "Payments", None)
    assert out["obj"] == _ids.child_invocation_id(INVOCATION_ID, 2, "Inventory", "sku")
    assert out["idem"] == _ids.idempotent_invocation_id("Payments", "refund", None, "once")
    assert out["wf"] == _ids.workflow_invocation_id("OrderFlow", "o-1")
    assert out["wf_shared"] == _ids.child_invocation_id(INVOCATION_ID, 5, "OrderFlow", "o-1")
    assert out["generic"] == _ids.child_invocation_id(INVOCATION_ID, 6, "Payments", None)
    assert out["generic_result"] == '"charged"'
    assert out["wf_result"] == '{"id":1,"items":["a"]}'
    commands = rt.commands()
    wf_call = commands[4]
    assert isinstance(wf_call, CallCommand) and wf_call.param == b'{"id":1,"items":["a"]}'
    send = commands[5]
    assert isinstance(send, SendCommand) and send.invoke_time_ms == 1_000_000 + 30_000
    assert send.param == b""
    generic = commands[6]
    assert isinstance(generic, CallCommand) and generic.headers == {"x": "y"}
    cancels = [c.invocation_id for c in commands if type(c).__name__ == "CancelInvocationCommand"]
    assert cancels == [out["obj"], "inv_other"]


@caller.handler()
async def wrong_target(ctx: Context) -> str:
    try:
        ctx.service_call(h.reserve, 1)  # type: ignore[arg-type]
    except TypeError as e:
        return str(e)
    return "accepted"


async def test_typed_call_checks_target_type() -> None:
    out = output_json(await FakeRuntime(caller.handlers["wrong_target"]).run())
    assert out == "Inventory.reserve is a virtual_object handler; use object_call/object_send"


# --- awakeables, attach ---------------------------------------------------------------------


TARGET = _ids.invocation_id_for(service="Other", key=None, uuid_part=b"\x01" * 16)
"""Ids handlers pass must be well-formed (a malformed one fails the handler with 400)."""


@caller.handler()
async def awakeables(ctx: Context) -> list[Any]:
    aid, fut = ctx.awakeable(type_hint=int)
    ctx.resolve_awakeable(_ids.awakeable_id(TARGET, 3), {"ok": True})
    ctx.reject_awakeable(_ids.awakeable_id(TARGET, 4), "nope", 418)
    attached = await ctx.attach_invocation(TARGET, type_hint=int)
    try:
        await fut
    except TerminalError as e:
        return [aid, attached, e.status_code, e.message]
    return [aid]


async def test_awakeables_and_attach() -> None:
    script = Script(awakeables=[Failure(500, "rejected by user")], attach={TARGET: json_value("5")})
    rt = FakeRuntime(caller.handlers["awakeables"], script=script)
    out = output_json(await rt.run())
    assert out == [_ids.awakeable_id(INVOCATION_ID, 1), 5, 500, "rejected by user"]
    assert _ids.parse_awakeable_id(out[0]) == (INVOCATION_ID, 1)
    kinds = [type(c).__name__ for c in rt.commands()]
    assert kinds[1:5] == [
        "AwakeableCommand",
        "CompleteAwakeableCommand",
        "CompleteAwakeableCommand",
        "AttachInvocationCommand",
    ]
    assert rt.commands()[3].result == Failure(418, "nope")  # type: ignore[union-attr]
    assert AttachInvocationCommand(invocation_id=TARGET) in rt.journal


async def test_first_completion_wins() -> None:
    """An awakeable resolved twice: the second completion has no effect."""
    rt = FakeRuntime(caller.handlers["awakeables"], script=Script(attach={TARGET: json_value("1")}))
    assert isinstance(await rt.run(), Blocked)
    rt.notify(Completion(1, Failure(500, "first")), Completion(1, Failure(500, "second")))
    out = output_json(await rt.run())
    assert out[2:] == [500, "first"]


# --- workflow promises ---------------------------------------------------------------------


async def test_promise_flow() -> None:
    promises: dict[str, Any] = {}
    main = FakeRuntime(
        h.APP.handler("Signup", "signup_run"), input=b'"a@b.c"', key="w", promises=promises
    )
    assert isinstance(await main.run(), Blocked)
    # A shared handler resolves it; the runtime completes the main handler's GetPromise.
    confirm = FakeRuntime(
        h.APP.handler("Signup", "confirm"), input=b'"1234"', key="w", promises=promises
    )
    assert output_json(await confirm.run()) == "ok"
    main.promises = confirm.promises
    assert output_json(await main.run()) == "a@b.c confirmed with 1234"
    again = FakeRuntime(
        h.APP.handler("Signup", "confirm"), input=b'"9"', key="w", promises=confirm.promises
    )
    assert output_json(await again.run()) == "rejected: 409 promise was already completed"


peek_wf = restate.Workflow("Peek")


@peek_wf.main()
async def peek_run(ctx: WorkflowContext) -> list[Any]:
    p = ctx.promise("p", type_hint=int)
    before = await p.peek()
    await ctx.promise("q").reject("bad", 422)
    try:
        await ctx.promise("q").value()
    except TerminalError as e:
        rejected = [e.status_code, e.message]
    await p.resolve(5)
    return [before, rejected, await p.peek(), await p]


async def test_promise_peek_resolve_reject() -> None:
    out = output_json(await FakeRuntime(peek_wf.handlers["peek_run"], key="k").run())
    assert out == [None, [422, "bad"], 5, 5]


# --- randomness, request, handler I/O ------------------------------------------------------


@caller.handler()
async def randomness(ctx: Context) -> list[Any]:
    return [ctx.random().random(), str(ctx.uuid()), ctx.request().id, ctx.request().headers]


async def test_random_is_seeded_and_stable() -> None:
    a = output_json(
        await FakeRuntime(caller.handlers["randomness"], seed=1, headers={"h": "1"}).run()
    )
    b = output_json(
        await FakeRuntime(caller.handlers["randomness"], seed=1, headers={"h": "1"}).run()
    )
    c = output_json(await FakeRuntime(caller.handlers["randomness"], seed=2).run())
    assert a == b
    assert a[:2] != c[:2]
    assert a[2] == INVOCATION_ID and a[3] == {"h": "1"}


async def test_undecodable_input_is_terminal_400() -> None:
    status = await FakeRuntime(h.APP.handler("Counter", "add"), input=b'"nope"', key="k").run()
    assert isinstance(status, Done) and status.failure is not None
    assert status.failure.code == 400
    assert status.failure.message.startswith("Unable to parse an input argument.")


async def test_pydantic_io() -> None:
    rt = FakeRuntime(orders_wf.handlers["order_run"], input=b'{"id": 3, "items": ["x"]}', key="o")
    status = await rt.run()
    assert isinstance(status, Done) and status.value == b'{"id":3,"items":["x"]}'


entered: list[str] = []


@contextlib.asynccontextmanager
async def _tracking(name: str) -> AsyncIterator[None]:
    entered.append(f"enter {name}")
    try:
        yield
    finally:
        entered.append(f"exit {name}")


cm_svc = restate.Service(
    "WithContextManagers", invocation_context_managers=[lambda: _tracking("svc")]
)


@cm_svc.handler(invocation_context_managers=[lambda: _tracking("handler")])
async def cm_handler(ctx: Context) -> str:
    entered.append("body")
    return "ok"


async def test_invocation_context_managers() -> None:
    entered.clear()
    assert output_json(await FakeRuntime(cm_svc.handlers["cm_handler"]).run()) == "ok"
    assert entered == ["enter svc", "enter handler", "body", "exit handler", "exit svc"]


# --- the driver's edges -------------------------------------------------------------------------


async def test_malformed_journal_is_a_protocol_violation() -> None:
    driver = InvocationDriver(
        h.APP.handler("Payments", "charge"),
        InvocationDescriptor(invocation_id=INVOCATION_ID, service="Payments", handler="charge"),
        [RunCommand(name="x")],
    )
    p = await driver.advance()
    assert isinstance(p.status, Failed) and p.status.code == 571


async def test_descriptor_must_match_handler() -> None:
    with pytest.raises(ValueError, match="descriptor targets"):
        InvocationDriver(
            h.APP.handler("Payments", "charge"),
            InvocationDescriptor(invocation_id=INVOCATION_ID, service="Payments", handler="refund"),
        )
    with pytest.raises(ValueError, match="needs a key"):
        InvocationDriver(
            h.APP.handler("Counter", "add"),
            InvocationDescriptor(invocation_id=INVOCATION_ID, service="Counter", handler="add"),
        )


async def test_advance_after_done_is_idempotent() -> None:
    driver = InvocationDriver(
        h.APP.handler("Payments", "charge"),
        InvocationDescriptor(
            invocation_id=INVOCATION_ID, service="Payments", handler="charge", input=b"1"
        ),
    )
    first = await driver.advance()
    assert isinstance(first.status, Done) and first.status.value == b'"charged 1"'
    again = await driver.advance()
    assert again.status == first.status and again.new_entries == () and again.journal_delta == ()


async def test_handler_exception_is_a_status_not_a_raise() -> None:
    boom = restate.Service("Boom")

    @boom.handler()
    async def explode(ctx: Context) -> None:
        ctx.set_state = None  # type: ignore[attr-defined]
        raise KeyError("missing")

    status = await FakeRuntime(boom.handlers["explode"]).run()
    assert isinstance(status, Failed)
    assert status.code == 500 and status.message == "KeyError: 'missing'"


async def test_output_serialization_failure_is_retryable() -> None:
    bad = restate.Service("BadOutput")

    @bad.handler()
    async def unserializable(ctx: Context) -> Any:
        return object()

    status = await FakeRuntime(bad.handlers["unserializable"]).run()
    assert isinstance(status, Failed)
    assert status.message.startswith("Unable to serialize the output of BadOutput.unserializable")


async def test_state_keys_result_type() -> None:
    rt = FakeRuntime(lazy.handlers["bump"], key="k", state={"b": b"1", "a": b"2"})
    await rt.run()
    assert Completion(3, StateKeys(["a", "b", "n"])) in rt.journal
    assert SetStateCommand(key="n", value=b"1") in rt.journal
