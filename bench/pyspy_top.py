#!/usr/bin/env python3
"""Hottest functions of a py-spy `--format raw` (collapsed stacks) profile.

Prints (1) self time by function, (2) inclusive time by function, (3) inclusive time by
rt/sdk source file and by top-level area (ingress, processor, invoker, sdk, redis-py, asyncio,
uvicorn/starlette, confluent-kafka glue ...). Thread names (py-spy's first frame) are shown
separately: rt's loop thread vs librdkafka poll/membership threads.

usage: python pyspy_top.py profile.collapsed [--top 30] [--thread MainThread]
"""

import argparse
import re
from collections import Counter

ap = argparse.ArgumentParser()
ap.add_argument("path")
ap.add_argument("--top", type=int, default=30)
ap.add_argument("--thread", default=None, help="only stacks whose thread frame contains this")
a = ap.parse_args()

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^():]+?)(?::(?P<line>\d+))?\)$")
# rt's own files, wherever the checkout or the benchmark's snapshot of it (RT_SRC) lives
RT_FILE = re.compile(r"/((?:runtime|sdk|connectors)/[^/].*)$")


def short(path: str) -> str:
    for mark in ("/site-packages/", "/lib/python3."):
        if mark in path:
            rest = path.split(mark, 1)[1]
            return rest.split("/", 1)[1] if mark == "/lib/python3." else rest
    m = RT_FILE.search(path)
    return m.group(1) if m else path


def area(path: str) -> str:
    p = short(path)
    for prefix, name in (
        ("runtime/ingress", "rt ingress"),
        ("runtime/partition", "rt processor"),
        ("runtime/invoker", "rt invoker"),
        ("runtime/state", "rt state store"),
        ("runtime/log", "rt log producer"),
        ("runtime/responses", "rt responses"),
        ("runtime/", "rt other"),
        ("sdk/", "rt sdk"),
        ("redis/", "redis-py"),
        ("asyncio/", "asyncio"),
        ("uvicorn/", "uvicorn"),
        ("starlette/", "starlette"),
        ("fastapi/", "fastapi"),
        ("h11/", "h11"),
        ("httptools", "httptools"),
        ("confluent_kafka", "confluent-kafka"),
        ("msgspec", "msgspec"),
        ("pydantic", "pydantic"),
        ("tenacity", "tenacity"),
        ("anyio", "anyio"),
    ):
        if p.startswith(prefix) or f"/{prefix}" in p:
            return name
    return "other: " + p.split("/")[0]


total = 0
self_t: Counter = Counter()
incl: Counter = Counter()
files: Counter = Counter()
entries: Counter = Counter()  # the first frame under the event loop: which task/callback runs
areas_self: Counter = Counter()
threads: Counter = Counter()
with open(a.path) as f:
    for line in f:
        line = line.rstrip("\n")
        if not line:
            continue
        stack, _, n = line.rpartition(" ")
        try:
            n = int(n)
        except ValueError:
            continue
        frames = stack.split(";")
        thread = frames[0] if frames and frames[0].startswith(("thread", "process")) else "?"
        if frames and frames[0].startswith("process"):
            frames = frames[1:]
            thread = frames[0] if frames and frames[0].startswith("thread") else thread
        if a.thread and a.thread not in thread:
            continue
        total += n
        threads[thread] += n
        seen_f, seen_file = set(), set()
        parsed = []
        for fr in frames:
            m = FRAME.match(fr)
            if not m:
                continue
            key = f"{m['func']} ({short(m['file'])})"
            parsed.append((key, m["file"]))
        if not parsed:
            continue
        self_t[parsed[-1][0]] += n
        names = [k for k, _ in parsed]
        entry = "(not under the event loop)"
        for i, k in enumerate(names):
            if (
                k.startswith("Runner.run ")
                or k.startswith("run_forever ")
                or k.startswith("_run_once ")
            ):
                entry = names[i + 1] if i + 1 < len(names) else "(event loop itself)"
        entries[entry] += n
        areas_self[area(parsed[-1][1])] += n
        for key, file in parsed:
            if key not in seen_f:
                incl[key] += n
                seen_f.add(key)
            sf = short(file)
            if (sf.startswith(("runtime/", "sdk/"))) and sf not in seen_file:
                files[sf] += n
                seen_file.add(sf)


def pct(n):
    return f"{100.0 * n / total:5.1f}%" if total else "-"


print(f"samples: {total}")
print("\n== threads")
for k, n in threads.most_common(10):
    print(f"{pct(n)}  {k}")
print("\n== self time by area (where the CPU actually is)")
for k, n in areas_self.most_common(25):
    print(f"{pct(n)}  {k}")
print("\n== by entry point under the event loop (task coroutine / callback), inclusive")
for k, n in entries.most_common(25):
    print(f"{pct(n)}  {k}")
print(f"\n== self time, top {a.top} functions")
for k, n in self_t.most_common(a.top):
    print(f"{pct(n)}  {k}")
print(f"\n== inclusive time, top {a.top} functions")
for k, n in incl.most_common(a.top):
    print(f"{pct(n)}  {k}")
print("\n== inclusive time by rt/sdk file")
for k, n in files.most_common(25):
    print(f"{pct(n)}  {k}")
