"""A user's account balance: a virtual object that refuses to overdraw.

The key is the user. ``withdraw`` raises a ``TerminalError`` when the balance is
too low: the invocation fails at once (no retries) with HTTP 409 and the balance
is unchanged. Because calls for one account run one at a time, concurrent
withdrawals can never together take more than the balance.

Run: ``rt dev examples/user_account.py``, then

    curl -s localhost:8080/UserAccount/alice/deposit -H 'content-type: application/json' -d 100
    curl -s localhost:8080/UserAccount/alice/withdraw -H 'content-type: application/json' -d 30
    curl -s localhost:8080/UserAccount/alice/withdraw -H 'content-type: application/json' -d 500
    # → 409 {"message": "insufficient funds: balance 70, requested 500"}
    curl -s localhost:8080/UserAccount/alice/balance              # 70
"""

import sdk as restate
from sdk import ObjectContext, ObjectSharedContext, TerminalError

account = restate.VirtualObject("UserAccount")


def _positive(amount: int) -> int:
    if amount <= 0:
        raise TerminalError("the amount must be positive", status_code=400)
    return amount


@account.handler()
async def deposit(ctx: ObjectContext, amount: int) -> int:
    """Add ``amount``; returns the new balance."""
    balance = (await ctx.get("balance", type_hint=int) or 0) + _positive(amount)
    ctx.set("balance", balance)
    return balance


@account.handler()
async def withdraw(ctx: ObjectContext, amount: int) -> int:
    """Take ``amount`` out; returns the new balance, or fails terminally if it is too low."""
    balance = await ctx.get("balance", type_hint=int) or 0
    if balance < _positive(amount):
        raise TerminalError(
            f"insufficient funds: balance {balance}, requested {amount}", status_code=409
        )
    ctx.set("balance", balance - amount)
    return balance - amount


@account.handler(kind="shared")
async def balance(ctx: ObjectSharedContext) -> int:
    return await ctx.get("balance", type_hint=int) or 0


app = restate.app([account])
