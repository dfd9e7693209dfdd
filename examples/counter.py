"""A virtual object: one counter per key, single writer per key, durable state.

Run: ``rt dev examples/counter.py``, then

    curl -s localhost:8080/Counter/alice/add -H 'content-type: application/json' -d 5
    curl -s localhost:8080/Counter/alice/get
    rt state get Counter alice
"""

from datetime import timedelta

import sdk as restate
from sdk import ObjectContext, ObjectSharedContext

counter = restate.VirtualObject("Counter")


@counter.handler()
async def add(ctx: ObjectContext, n: int) -> int:
    """Exclusive: calls for one key run one at a time, in arrival order."""
    count = (await ctx.get("count", type_hint=int)) or 0
    count += n
    ctx.set("count", count)
    return count


@counter.handler(kind="shared")
async def get(ctx: ObjectSharedContext) -> int:
    """Shared: runs concurrently with `add`, reads the last committed state."""
    return (await ctx.get("count", type_hint=int)) or 0


@counter.handler()
async def reset_later(ctx: ObjectContext, seconds: int) -> None:
    """A durable sleep: survives restarts of rt."""
    await ctx.sleep(timedelta(seconds=seconds))
    ctx.clear("count")


app = restate.app([counter])
