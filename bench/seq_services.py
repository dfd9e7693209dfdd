"""The service ``bench/batched_faults.py`` feeds: a per-key count that checks record order.

- SeqCounter/{key}/add({"seq": n}) -> count     counts records; ``errors`` counts
  records whose seq is not the previous one + 1 (out of order, lost or duplicated)
"""

from __future__ import annotations

from typing import Any

import sdk as restate
from sdk import ObjectContext

seq_counter = restate.VirtualObject("SeqCounter")


@seq_counter.handler()
async def add(ctx: ObjectContext, rec: dict[str, Any]) -> int:
    count = (await ctx.get("count")) or 0
    last = (await ctx.get("last")) or 0
    if rec["seq"] != last + 1:
        ctx.set("errors", ((await ctx.get("errors")) or 0) + 1)
    ctx.set("count", count + 1)
    ctx.set("last", rec["seq"])
    return int(count + 1)


app = restate.app(services=[seq_counter])
