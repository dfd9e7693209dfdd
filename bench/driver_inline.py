"""The SDK's invocation driver alone: inline fast path vs ``advance()``, per invocation.

No Kafka, Redis or runtime: each invocation builds an ``InvocationDescriptor`` and an
``InvocationDriver`` (journal = the Input command, eager state) and runs the attempt to
its end, either

- ``advance``: the normal path, ``await driver.advance()`` (and, for a handler with a
  ``ctx.run`` step, the second ``advance(durable=True)`` after ``Blocked(needs_ack)``:
  what the runtime does once the result is durable), or
- ``inline``: ``driver.run_inline(defer_durability=True)`` (ADR 0019).

Scenarios:

- ``counter``: ``Counter.add`` (exclusive object handler): ``count = await
  ctx.get("count") or 0; ctx.set("count", count + n); return count``.
- ``one_run``: a service handler with one ``ctx.run`` step (a sync action) and its
  result returned.
- ``ctor``: building the descriptor and the driver only (included in the others).

Rounds alternate the modes (the machine may be shared: compare within a run), and the
report gives, per scenario and mode, the median and the spread (min-max) of the
per-round means in µs per invocation (wall clock), plus the median ratio. The first
round of each is a warm-up and is not counted. ``--modes advance`` measures the normal
path alone, e.g. of another checkout of the SDK that has no ``run_inline``
(``PYTHONPATH=<checkout> .venv/bin/python bench/driver_inline.py --modes advance``).
Usage, from the repository root::

    .venv/bin/python bench/driver_inline.py                 # 7 rounds x 5000 invocations
    .venv/bin/python bench/driver_inline.py --rounds 9 --n 20000 --json
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import time
from collections.abc import Awaitable, Callable

import sdk as restate
from sdk import Context, ObjectContext
from sdk.engine import (
    Blocked,
    Done,
    HandlerDefinition,
    InputCommand,
    InvocationDescriptor,
    InvocationDriver,
)

counter = restate.VirtualObject("Counter")


@counter.handler()
async def add(ctx: ObjectContext, n: int) -> int:
    count = await ctx.get("count", type_hint=int) or 0
    ctx.set("count", count + n)
    return count


steps = restate.Service("Steps")


def _double(n: int) -> int:
    return n * 2


@steps.handler()
async def one_run(ctx: Context, n: int) -> int:
    return await ctx.run_typed("double", _double, restate.RunOptions(), n)


APP = restate.app([counter, steps])
INV_ID = "inv_1bench0000000000000000000000"


def _descriptor(handler: HandlerDefinition) -> InvocationDescriptor:
    return InvocationDescriptor(
        invocation_id=INV_ID,
        service=handler.service_name,
        handler=handler.name,
        key="k1" if handler.is_keyed else None,
        eager_state={"count": b"41"} if handler.is_keyed else None,
    )


def _driver(handler: HandlerDefinition) -> InvocationDriver:
    return InvocationDriver(handler, _descriptor(handler), [InputCommand(body=b"1")])


async def _advance(handler: HandlerDefinition) -> None:
    driver = _driver(handler)
    progress = await driver.advance()
    while isinstance(progress.status, Blocked):
        assert progress.status.needs_ack, progress.status
        progress = await driver.advance(durable=True)
    assert isinstance(progress.status, Done), progress.status


async def _inline(handler: HandlerDefinition) -> None:
    progress = _driver(handler).run_inline(defer_durability=True)
    assert progress is not None and isinstance(progress.status, Done), progress


async def _ctor(handler: HandlerDefinition) -> None:
    _driver(handler)


Mode = Callable[[HandlerDefinition], Awaitable[None]]
MODES: dict[str, Mode] = {"advance": _advance, "inline": _inline}


async def _round(mode: Mode, handler: HandlerDefinition, n: int) -> float:
    """µs per invocation over ``n`` invocations run back to back."""
    gc.collect()
    start = time.perf_counter()
    for _ in range(n):
        await mode(handler)
    return (time.perf_counter() - start) / n * 1e6


async def main(rounds: int, n: int, modes: list[str]) -> dict[str, dict[str, list[float]]]:
    scenarios = {
        "counter": APP.handler("Counter", "add"),
        "one_run": APP.handler("Steps", "one_run"),
    }
    results: dict[str, dict[str, list[float]]] = {s: {m: [] for m in modes} for s in scenarios}
    results["ctor"] = {"ctor": []}
    for r in range(rounds + 1):  # round 0: warm-up
        order = modes if r % 2 == 0 else list(reversed(modes))
        for name, handler in scenarios.items():
            for mode in order:
                us = await _round(MODES[mode], handler, n)
                if r:
                    results[name][mode].append(us)
        us = await _round(_ctor, scenarios["counter"], n)
        if r:
            results["ctor"]["ctor"].append(us)
    return results


def report(results: dict[str, dict[str, list[float]]]) -> None:
    for scenario, modes in results.items():
        medians = {}
        for mode, values in modes.items():
            med = statistics.median(values)
            medians[mode] = med
            print(
                f"{scenario:8s} {mode:8s} median {med:7.2f} µs  spread {min(values):7.2f}-"
                f"{max(values):7.2f}  rounds {len(values)}"
            )
        if "advance" in modes and "inline" in modes:
            ratios = [a / i for a, i in zip(modes["advance"], modes["inline"], strict=True)]
            print(
                f"{scenario:8s} advance/inline: median {statistics.median(ratios):.1f}x "
                f"(per round {min(ratios):.1f}-{max(ratios):.1f}x)"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="measured rounds (>= 5)")
    parser.add_argument("--n", type=int, default=5000, help="invocations per round and mode")
    parser.add_argument("--json", action="store_true", help="also print the raw figures")
    parser.add_argument(
        "--modes", nargs="+", choices=list(MODES), default=list(MODES), help="paths to measure"
    )
    args = parser.parse_args()
    figures = asyncio.run(main(args.rounds, args.n, args.modes))
    report(figures)
    if args.json:
        print(json.dumps(figures))
