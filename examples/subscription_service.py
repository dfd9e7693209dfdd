"""Durable execution: a payment, then one journaled step per subscription.

``add`` creates a recurring payment and then one subscription per product, each
call to the (simulated) provider a ``ctx.run`` step. If rt dies half-way, the
retry replays the finished steps from the journal instead of calling the
providers again: the card is charged once and every subscription is created once
(only the step in flight at the crash can run twice, so providers get an
idempotency key — the payment id, drawn with ``ctx.uuid()``, which is the same on
every replay).

Run: ``rt dev examples/subscription_service.py``, then

    curl -s localhost:8080/SubscriptionService/add -H 'content-type: application/json' \\
        -d '{"user_id": "alice", "credit_card": "4242-4242", "subscriptions": ["news", "music"]}'

→ ``{"payment_ref": "pay-…", "subscriptions": ["news", "music"]}``; rt dev prints one
``[subscriptions]`` line per provider call.
"""

from __future__ import annotations

import time

from pydantic import BaseModel

import sdk as restate

PROVIDER_LATENCY = 0.05
"""Seconds each simulated provider call takes (a stand-in for an HTTP round trip)."""


class SubscriptionRequest(BaseModel):
    user_id: str
    credit_card: str
    subscriptions: list[str]


class SubscriptionResult(BaseModel):
    payment_ref: str
    subscriptions: list[str]


def create_recurring_payment(credit_card: str, payment_id: str) -> str:
    """Stands in for the payment provider; ``payment_id`` is its idempotency key."""
    time.sleep(PROVIDER_LATENCY)
    print(f"[subscriptions] recurring payment {payment_id} on card {credit_card}", flush=True)
    return f"pay-{payment_id}"


def create_subscription(user_id: str, subscription: str, payment_ref: str) -> None:
    """Stands in for a subscription provider."""
    time.sleep(PROVIDER_LATENCY)
    print(f"[subscriptions] {user_id} subscribed to {subscription} ({payment_ref})", flush=True)


subscription_service = restate.Service("SubscriptionService")


@subscription_service.handler()
async def add(ctx: restate.Context, req: SubscriptionRequest) -> SubscriptionResult:
    payment_id = str(ctx.uuid())  # deterministic: replays draw the same id
    payment_ref = await ctx.run_typed(
        "pay", create_recurring_payment, credit_card=req.credit_card, payment_id=payment_id
    )
    for subscription in req.subscriptions:
        await ctx.run_typed(
            f"add-{subscription}",
            create_subscription,
            user_id=req.user_id,
            subscription=subscription,
            payment_ref=payment_ref,
        )
    return SubscriptionResult(payment_ref=payment_ref, subscriptions=req.subscriptions)


app = restate.app([subscription_service])
