"""Capabilities are in the types: mypy rejects state on services, writes on shared handlers..."""

from __future__ import annotations

import re
from pathlib import Path

from mypy import api

USER_CODE = """
from datetime import timedelta

import sdk as restate
from sdk import (
    Context, ObjectContext, ObjectSharedContext, RunOptions, WorkflowContext,
    WorkflowSharedContext,
)

obj = restate.VirtualObject("O")
svc = restate.Service("S")
wf = restate.Workflow("W")


@obj.handler()
async def add(ctx: ObjectContext, n: int) -> int:
    count = (await ctx.get("count")) or 0
    typed = await ctx.get("count", type_hint=int)
    reveal_type(typed)
    ctx.set("count", count + n)
    return int(count) + n


@obj.handler(kind="shared")
async def peek(ctx: ObjectSharedContext) -> int:
    ctx.set("count", 1)  # ERROR
    return 0


@svc.handler()
async def plain(ctx: Context, x: str) -> str:
    await ctx.get("x")  # ERROR
    r = await ctx.run_typed("r", len, RunOptions(), "abc")
    reveal_type(r)
    c = await ctx.object_call(add, "k", 1)
    reveal_type(c)
    ctx.promise("p")  # ERROR
    _, fut = ctx.awakeable(type_hint=str)
    reveal_type(fut)
    await ctx.sleep(timedelta(seconds=1))
    await restate.select(a=fut, b=ctx.sleep(timedelta(seconds=1)))
    return x


@wf.main()
async def main(ctx: WorkflowContext) -> str:
    v = await ctx.promise("p", type_hint=str)
    reveal_type(v)
    ctx.set("a", 1)
    return v


@wf.handler()
async def sig(ctx: WorkflowSharedContext) -> None:
    await ctx.promise("p").resolve("x")
    ctx.clear("a")  # ERROR
"""


def test_capabilities_are_type_errors(tmp_path: Path) -> None:
    src = tmp_path / "user_code.py"
    src.write_text(USER_CODE)
    cache = Path(__file__).resolve().parents[3] / ".mypy_cache"  # shared with `mypy sdk`
    stdout, _, _ = api.run(["--strict", "--cache-dir", str(cache), "--no-error-summary", str(src)])
    errors = {
        int(m.group(1)): m.group(2)
        for m in re.finditer(r"user_code\.py:(\d+): error: (.*)", stdout)
    }
    lines = USER_CODE.splitlines()
    expected = {i + 1 for i, line in enumerate(lines) if line.endswith("# ERROR")}
    assert set(errors) == expected, stdout
    assert 'has no attribute "set"' in errors[min(expected)]
    reveals = re.findall(r'Revealed type is "([^"]+)"', stdout)
    assert [r.replace("builtins.", "") for r in reveals] == [
        "int | None",
        "int",
        "int",
        "sdk.context.RestateDurableFuture[str]",
        "str",
    ]
