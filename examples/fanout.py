"""FanOut: one handler fans a job out to N worker calls and gathers the results.

Run: ``rt dev examples/fanout.py``, then

curl -s localhost:8080/FanOut/run -H 'content-type: application/json' \
    -d '{"items": ["kafka", "redis", "", "rt"]}'

→ ``{"results": [5, 5, null, 2], "total": 12, "errors": ["item 2: empty item"]}``

The calls run in parallel (each is its own durable invocation); ``gather``
waits for all of them, failed ones included, and the answer is the same if the
process crashes half-way: finished calls are not repeated, their results are
read back from the journal.
"""

from __future__ import annotations

from pydantic import BaseModel

import sdk as restate


class Job(BaseModel):
    items: list[str]


class Report(BaseModel):
    results: list[int | None]
    total: int
    errors: list[str]


worker = restate.Service("Worker")


def measure(item: str) -> int:
    """The side effect each worker journals (a stand-in for real work)."""
    return len(item)


@worker.handler()
async def process(ctx: restate.Context, item: str) -> int:
    if not item:
        raise restate.TerminalError("empty item", status_code=400)
    return await ctx.run_typed("measure", measure, restate.RunOptions(), item)


fanout = restate.Service("FanOut")


@fanout.handler()
async def run(ctx: restate.Context, job: Job) -> Report:
    calls = [ctx.service_call(process, item) for item in job.items]
    await restate.gather(*calls)  # every call has completed, successfully or not
    results: list[int | None] = []
    errors: list[str] = []
    for i, call in enumerate(calls):
        try:
            results.append(await call)
        except restate.TerminalError as e:
            results.append(None)
            errors.append(f"item {i}: {e.message}")
    return Report(results=results, total=sum(r for r in results if r is not None), errors=errors)


app = restate.app([worker, fanout])
