"""A shopping cart per user: a virtual object with exclusive writes and shared reads.

Each cart is the object's key. ``addItem`` is exclusive: calls for one cart run
one at a time in arrival order, so concurrent adds never lose an item.
``getTotal`` is shared: it runs beside them and reads the last committed cart.
``checkout`` charges the total once (a journaled step) and empties the cart.

Run: ``rt dev examples/shopping_cart.py``, then

    curl -s localhost:8080/ShoppingCart/alice/addItem -H 'content-type: application/json' \\
        -d '{"product": "socks", "quantity": 2, "price": 450}'
    curl -s localhost:8080/ShoppingCart/alice/getTotal                 # 900 (cents)
    curl -s -X POST localhost:8080/ShoppingCart/alice/checkout
"""

from __future__ import annotations

from pydantic import BaseModel

import sdk as restate
from sdk import ObjectContext, ObjectSharedContext, TerminalError


class Item(BaseModel):
    product: str
    quantity: int = 1
    price: int
    """Unit price in cents."""


class Receipt(BaseModel):
    items: int
    total: int
    payment: str


cart = restate.VirtualObject("ShoppingCart")


def charge(cart_id: str, amount: int) -> str:
    """Stands in for a payment provider call."""
    print(f"[cart] charged {amount} cents for cart {cart_id}", flush=True)
    return f"paid-{cart_id}-{amount}"


@cart.handler(name="addItem")
async def add_item(ctx: ObjectContext, item: Item) -> int:
    """Add ``item`` to the cart; returns how many pieces the cart now holds."""
    if item.quantity <= 0 or item.price < 0:
        raise TerminalError("quantity must be positive and price not negative", status_code=400)
    items = await ctx.get("items", type_hint=list[Item]) or []
    items.append(item)
    ctx.set("items", items)
    return sum(i.quantity for i in items)


@cart.handler(name="getTotal", kind="shared")
async def get_total(ctx: ObjectSharedContext) -> int:
    """The cart's total in cents."""
    items = await ctx.get("items", type_hint=list[Item]) or []
    return sum(i.quantity * i.price for i in items)


@cart.handler()
async def checkout(ctx: ObjectContext) -> Receipt:
    """Pay for the cart and empty it; an empty cart cannot be checked out."""
    items = await ctx.get("items", type_hint=list[Item]) or []
    if not items:
        raise TerminalError("the cart is empty", status_code=400)
    total = sum(i.quantity * i.price for i in items)
    payment = await ctx.run_typed("charge", charge, cart_id=ctx.key(), amount=total)
    ctx.clear_all()
    return Receipt(items=sum(i.quantity for i in items), total=total, payment=payment)


app = restate.app([cart])
