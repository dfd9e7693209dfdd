"""A payment workflow that waits for a human approval and for the provider's webhook.

``run`` executes once per payment id. It records the request, then waits on the
durable promise ``approval``, which the shared handler ``approve`` resolves (an
approver's click). Once approved, it asks the (simulated) payment provider to
charge — a journaled step, with the payment id as the provider's idempotency
key — and waits on the promise ``settled``, which the provider completes later by
calling our ``webhook``. Both waits survive restarts of rt: the workflow is
suspended in between, not holding a thread, and a promise resolved while rt is
down, or before ``run`` reaches it, is kept. The shared ``status`` handler tells
where the payment stands.

Run: ``rt dev examples/payment_approval.py``, then

    curl -s localhost:8080/PaymentApproval/p1/run/send -H 'content-type: application/json' \\
        -d '{"account": "acme", "amount": 250}'
    curl -s localhost:8080/PaymentApproval/p1/status         # "waiting for approval"
    curl -s localhost:8080/PaymentApproval/p1/approve -H 'content-type: application/json' -d true
    # the provider calls back (rt dev prints the command):
    curl -s localhost:8080/PaymentApproval/p1/webhook -H 'content-type: application/json' \\
        -d '{"reference": "ch_p1", "outcome": "succeeded"}'
    curl -s localhost:8080/restate/workflow/PaymentApproval/p1/attach
"""

from __future__ import annotations

from pydantic import BaseModel

import sdk as restate
from sdk import TerminalError, WorkflowContext, WorkflowSharedContext


class PaymentRequest(BaseModel):
    account: str
    amount: int


class ProviderEvent(BaseModel):
    """What the payment provider posts to the webhook."""

    reference: str
    outcome: str
    """``succeeded`` or ``failed``."""


class PaymentOutcome(BaseModel):
    status: str
    """``paid``, ``declined`` or ``rejected``."""
    reference: str | None = None


def start_charge(payment_id: str, account: str, amount: int) -> str:
    """Stands in for the provider's "create charge" call; it answers later, on the webhook."""
    print(
        f"[provider] charging {amount} to {account}; will call back with "
        f"curl localhost:8080/PaymentApproval/{payment_id}/webhook "
        f"-H 'content-type: application/json' "
        f'-d \'{{"reference": "ch_{payment_id}", "outcome": "succeeded"}}\'',
        flush=True,
    )
    return f"ch_{payment_id}"


payment = restate.Workflow("PaymentApproval")


@payment.main()
async def run(ctx: WorkflowContext, req: PaymentRequest) -> PaymentOutcome:
    if req.amount <= 0:
        raise TerminalError("the amount must be positive", status_code=400)
    ctx.set("status", "waiting for approval")
    if not await ctx.promise("approval", type_hint=bool).value():
        ctx.set("status", "rejected")
        return PaymentOutcome(status="rejected")

    ctx.set("status", "charging")
    reference = await ctx.run_typed(
        "charge", start_charge, payment_id=ctx.key(), account=req.account, amount=req.amount
    )
    event = await ctx.promise("settled", type_hint=ProviderEvent).value()
    status = "paid" if event.outcome == "succeeded" else "declined"
    ctx.set("status", status)
    return PaymentOutcome(status=status, reference=reference)


@payment.handler()
async def approve(ctx: WorkflowSharedContext, approved: bool) -> None:
    """The approver's decision (409 if the payment was already decided)."""
    await ctx.promise("approval", type_hint=bool).resolve(approved)


@payment.handler()
async def webhook(ctx: WorkflowSharedContext, event: ProviderEvent) -> str:
    """The provider's callback. Providers deliver webhooks at least once: a repeat is fine."""
    try:
        await ctx.promise("settled", type_hint=ProviderEvent).resolve(event)
    except TerminalError as e:
        if e.status_code != 409:
            raise
        return "duplicate"
    return "accepted"


@payment.handler()
async def status(ctx: WorkflowSharedContext) -> str | None:
    return await ctx.get("status", type_hint=str)


app = restate.app([payment])
