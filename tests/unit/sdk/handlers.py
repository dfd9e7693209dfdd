"""Services used by the engine and golden journal tests.

``CALLS`` counts how often each ``ctx.run`` action really executed, so tests can
show that replay never re-executes a journaled action.
"""

from __future__ import annotations

import collections
from datetime import timedelta

import sdk as restate
from sdk import (
    Context,
    ObjectContext,
    ObjectSharedContext,
    RunOptions,
    TerminalError,
    WorkflowContext,
    WorkflowSharedContext,
)

CALLS: collections.Counter[str] = collections.Counter()


def counted(name: str, value: int) -> int:
    CALLS[name] += 1
    return value


# --- call targets -------------------------------------------------------------

payments = restate.Service("Payments")


@payments.handler()
async def charge(ctx: Context, amount: int) -> str:
    return f"charged {amount}"


@payments.handler()
async def refund(ctx: Context, amount: int) -> str:
    return f"refunded {amount}"


inventory = restate.VirtualObject("Inventory")


@inventory.handler()
async def reserve(ctx: ObjectContext, qty: int) -> int:
    return qty


# --- golden: three journaled steps ----------------------------------------------

steps = restate.Workflow("Steps")


def _step(name: str, i: int, n: int) -> int:
    return counted(name, i + n)


@steps.main()
async def run(ctx: WorkflowContext, n: int) -> int:
    a = await ctx.run_typed("step1", _step, RunOptions(), "step1", 1, n)
    b = await ctx.run_typed("step2", _step, RunOptions(), "step2", 2, a)
    c = await ctx.run_typed("step3", _step, RunOptions(), "step3", 3, b)
    return c


# --- golden: non-determinism ---------------------------------------------------

orders = restate.Service("Orders")


@orders.handler()
async def place(ctx: Context, amount: int) -> str:
    """Version 2 of the handler: it refunds where version 1 charged (command 3)."""
    await ctx.run_typed("validate", counted, RunOptions(), "validate", amount)
    await ctx.sleep(timedelta(seconds=1), name="cooldown")
    return await ctx.service_call(refund, amount)


@orders.handler()
async def race(ctx: Context, amount: int) -> str:
    """``select`` between a call and a timer: the journal decides who won."""
    call = ctx.service_call(charge, amount)
    timeout = ctx.sleep(timedelta(seconds=5), name="timeout")
    match await restate.select(call=call, timeout=timeout):
        case ["call", text]:
            return str(text)
        case ["timeout", _]:
            return "timed out"
    raise AssertionError("unreachable")


@orders.handler()
async def guarded(ctx: Context, amount: int) -> str:
    """Awaits a call; a cancellation cancels the call and surfaces as 409."""
    return await ctx.service_call(charge, amount)


# --- golden: state and promises -------------------------------------------------

counter = restate.VirtualObject("Counter")


@counter.handler()
async def add(ctx: ObjectContext, n: int) -> int:
    count = (await ctx.get("count", type_hint=int)) or 0
    count += n
    ctx.set("count", count)
    return count


@counter.handler(kind="shared")
async def get(ctx: ObjectSharedContext) -> int:
    return (await ctx.get("count", type_hint=int)) or 0


signup = restate.Workflow("Signup")


@signup.main()
async def signup_run(ctx: WorkflowContext, email: str) -> str:
    ctx.set("email", email)
    code = await ctx.promise("code", type_hint=str)
    return f"{email} confirmed with {code}"


@signup.handler()
async def confirm(ctx: WorkflowSharedContext, code: str) -> str:
    try:
        await ctx.promise("code", type_hint=str).resolve(code)
    except TerminalError as e:
        return f"rejected: {e.status_code} {e.message}"
    return "ok"


# --- golden: Kafka egress ---------------------------------------------------------

publisher = restate.Service("Publisher")


@publisher.handler()
async def publish(ctx: Context, n: int) -> int:
    from sdk.kafka import emit

    emit(ctx, "orders.placed", {"n": n}, key="k1", headers={"h": "v"})
    total = await ctx.run_typed("total", counted, name="total", value=n * 2)
    emit(ctx, "orders.totals", total, key="k1")
    return total


# --- restate-sdk's entry names on state calls (accepted, not journaled) ---------------

named = restate.VirtualObject("Named")


@named.handler()
async def rename(ctx: ObjectContext, value: str) -> list[str]:
    old = await ctx.get("a", type_hint=str, entry_name="read a")
    ctx.set("b", old or value, entry_name="write b")
    ctx.clear("a", entry_name="drop a")
    keys = await ctx.state_keys(entry_name="list")
    ctx.clear_all(entry_name="wipe")
    return keys


# --- golden: named signals ---------------------------------------------------------

approvals = restate.Service("Approvals")


@approvals.handler()
async def both(ctx: Context) -> str:
    """Two signals of one name: each ``ctx.signal`` takes the next one."""
    first = await ctx.signal("go", type_hint=str)
    second = await ctx.signal("go", type_hint=str)
    return first + second


@approvals.handler()
async def deadline(ctx: Context) -> str:
    """``select`` between a signal and a timer: the journal decides who won."""
    go = ctx.signal("go", type_hint=str)
    timeout = ctx.sleep(timedelta(seconds=5), name="timeout")
    match await restate.select(go=go, timeout=timeout):
        case ["go", text]:
            return str(text)
        case ["timeout", _]:
            return "timed out"
    raise AssertionError("unreachable")


@approvals.handler()
async def notify(ctx: Context, target: str) -> str:
    """Resolves then rejects signal ``go`` of ``target``."""
    ctx.resolve_signal(target, "go", "yes")
    ctx.reject_signal(target, "go", "no", 403)
    return "sent"


APP = restate.app(
    [payments, inventory, steps, orders, counter, signup, publisher, approvals, named]
)
