"""A payment workflow with human approval through an awakeable.

Payments up to ``APPROVAL_LIMIT`` are charged at once. Larger ones wait for an
approver: ``run`` creates an awakeable, publishes its id (in the workflow's
state, readable through the shared ``status`` handler, and printed as a curl
command), and waits for someone to resolve it over HTTP — or for the approval
deadline to pass. A rejection arrives as a ``TerminalError``. The charge is a
journaled side effect with the workflow id as idempotency key, so the customer
is charged once even if rt restarts mid-way.

Run: ``rt dev examples/payment.py``, then

    curl -s localhost:8080/Payment/p1/run -H 'content-type: application/json' \\
         -d '{"account": "acme", "amount": 50}'                    # charged at once
    curl -s localhost:8080/Payment/p2/run/send -H 'content-type: application/json' \\
         -d '{"account": "acme", "amount": 5000}'
    curl -s localhost:8080/Payment/p2/status   # {"status":"awaiting approval","approval_id":…}
    curl -s -X POST localhost:8080/restate/awakeables/APPROVAL_ID/resolve -d 'true'
    # or: curl -s -X POST localhost:8080/restate/awakeables/APPROVAL_ID/reject -d 'too much'
    curl -s localhost:8080/restate/workflow/Payment/p2/attach
"""

from datetime import timedelta

from pydantic import BaseModel

import sdk as restate
from sdk import TerminalError, WorkflowContext, WorkflowSharedContext

APPROVAL_LIMIT = 1000
APPROVAL_DEADLINE = timedelta(days=1)


class PaymentRequest(BaseModel):
    account: str
    amount: int


class PaymentResult(BaseModel):
    status: str
    """``paid``, ``rejected`` or ``expired``."""
    transaction: str | None = None
    reason: str | None = None


payment = restate.Workflow("Payment")


def charge(account: str, amount: int, idempotency_key: str) -> str:
    """Stands in for a payment provider call; the key lets the provider deduplicate retries."""
    print(f"[payment] charged {amount} to {account} (key {idempotency_key})", flush=True)
    return f"tx-{idempotency_key}"


def notify_approver(payment_id: str, approval_id: str, amount: int) -> None:
    """Stands in for a message to an approver (chat, e-mail, ticket)."""
    print(
        f"[payment] {payment_id} needs approval for {amount}: "
        f"curl -X POST localhost:8080/restate/awakeables/{approval_id}/resolve -d true",
        flush=True,
    )


@payment.main()
async def run(ctx: WorkflowContext, req: PaymentRequest) -> PaymentResult:
    if req.amount <= 0:
        raise TerminalError("amount must be positive", status_code=400)
    if req.amount > APPROVAL_LIMIT:
        approval_id, approval = ctx.awakeable(type_hint=bool)
        ctx.set("status", "awaiting approval")
        ctx.set("approval_id", approval_id)
        notice = (ctx.key(), approval_id, req.amount)
        await ctx.run_typed("notify approver", notify_approver, restate.RunOptions(), *notice)
        try:
            match await restate.select(approval=approval, deadline=ctx.sleep(APPROVAL_DEADLINE)):
                case ["approval", True]:
                    pass
                case ["approval", _]:
                    return _finish(ctx, PaymentResult(status="rejected", reason="not approved"))
                case _:
                    return _finish(ctx, PaymentResult(status="expired"))
        except TerminalError as e:
            return _finish(ctx, PaymentResult(status="rejected", reason=e.message))
    tx = await ctx.run_typed(
        "charge", charge, restate.RunOptions(), req.account, req.amount, ctx.key()
    )
    return _finish(ctx, PaymentResult(status="paid", transaction=tx))


def _finish(ctx: WorkflowContext, result: PaymentResult) -> PaymentResult:
    ctx.set("status", result.status)
    ctx.clear("approval_id")
    return result


@payment.handler()
async def status(ctx: WorkflowSharedContext) -> dict[str, str | None]:
    """Where the payment stands, and the awakeable id an approver resolves."""
    return {
        "status": await ctx.get("status", type_hint=str),
        "approval_id": await ctx.get("approval_id", type_hint=str),
    }


app = restate.app([payment])
