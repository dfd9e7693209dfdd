"""The greeter as a virtual object: one greeting count per name, kept in durable state.

The object's key is the person's name. ``greet`` and ``ungreet`` are exclusive:
calls for one name run one at a time, so the count never loses an update; calls
for different names run in parallel. ``count`` is shared (read-only, concurrent).

Run: ``rt dev examples/greeter_object.py``, then

    curl -s localhost:8080/GreeterObject/mary/greet -H 'content-type: application/json' \\
        -d '"Hi"'                                      # "Hi mary, for the 1st time"
    curl -s -X POST localhost:8080/GreeterObject/mary/ungreet   # "Goodbye mary, 0 greetings left"
    curl -s localhost:8080/GreeterObject/mary/count             # 0
"""

import sdk as restate
from sdk import ObjectContext, ObjectSharedContext

greeter = restate.VirtualObject("GreeterObject")


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


@greeter.handler()
async def greet(ctx: ObjectContext, greeting: str) -> str:
    count = (await ctx.get("count", type_hint=int) or 0) + 1
    ctx.set("count", count)
    return f"{greeting} {ctx.key()}, for the {ordinal(count)} time"


@greeter.handler()
async def ungreet(ctx: ObjectContext) -> str:
    count = max((await ctx.get("count", type_hint=int) or 0) - 1, 0)
    ctx.set("count", count)
    return f"Goodbye {ctx.key()}, {count} greetings left"


@greeter.handler(kind="shared")
async def count(ctx: ObjectSharedContext) -> int:
    return await ctx.get("count", type_hint=int) or 0


app = restate.app([greeter])
