#!/usr/bin/env python3
"""`rt dev` with per-invocation timestamps along the call path: a latency breakdown.

Runs exactly `rt dev ...` (same arguments), but first wraps a few functions of rt (in this
process only; no rt file changes) to timestamp each invocation's path:

  http_in      ingress dispatch entered (after uvicorn/FastAPI routing)
  submit       Invoke handed to the Kafka producer       (LogIngressBackend._submit)
  invoke_ack   its delivery report arrived (durable)
  consumed     the processor decoded the Invoke          (records.decode in the apply loop)
  applied      the processor's Redis apply of that batch returned (effects start)
  attempt      the in-process invoker started the handler  (InProcessInvoker.start(host,
               attempt); the applied -> attempt gap is ~0: both are marked when the
               StartAttempt effect runs)
  journal      the attempt produced its AppendJournal (output entry)
  journal_ack  its delivery report arrived
  published    the fast-path response publish was issued (_Runner._fast_response)
  answered     the waiting ingress call got the response  (_await_response returned)
  http_out     dispatch returned the HTTP response object

On exit (SIGINT) it writes per-stage percentiles to $RT_TRACE_OUT (JSON) and prints them.
Also records durations of processor batches (prefetch, the machine's compute
``PartitionMachine.apply``, store.apply) and batch sizes.

usage: RT_TRACE_OUT=trace.json python bench/trace_rt.py dev bench/services.py --fresh ...
(bench/trace_latency.sh does that and drives load.) Overhead: a few µs per stage.
"""

from __future__ import annotations

import atexit
import json
import os
import statistics
import sys
import time
from collections import defaultdict

import runtime.cli as cli
from runtime.ingress import log_backend as lb
from runtime.invoker import inprocess as inv
from runtime.log import records
from runtime.partition import machine as pm
from runtime.partition import processor as proc

now = time.perf_counter
T: dict[str, dict[str, float]] = defaultdict(dict)
D: dict[str, list[float]] = defaultdict(list)  # durations (ms) of sub-steps
MAX_TRACKED = 200_000


def mark(inv_id: str, stage: str) -> None:
    if len(T) < MAX_TRACKED:
        T[inv_id].setdefault(stage, now())


# --- ingress
_orig_submit = lb.LogIngressBackend._submit


async def _submit(self, record, invocation_id, key):
    if isinstance(record, records.Invoke):
        mark(invocation_id, "submit")
    await _orig_submit(self, record, invocation_id, key)
    if isinstance(record, records.Invoke):
        mark(invocation_id, "invoke_ack")


lb.LogIngressBackend._submit = _submit

_orig_await = lb.LogIngressBackend._await_response


async def _await_response(self, invocation_id, request_id, fut):
    r = await _orig_await(self, invocation_id, request_id, fut)
    mark(invocation_id, "answered")
    return r


lb.LogIngressBackend._await_response = _await_response

_orig_call = lb.LogIngressBackend.call


async def _call(self, request):
    t0 = now()
    out = await _orig_call(self, request)
    rec = T.get(out.invocation_id)
    if rec is not None:
        rec.setdefault("http_in", t0)
        rec["http_out"] = now()
    return out


lb.LogIngressBackend.call = _call

# --- processor
_orig_decode = records.decode


def _decode(data):
    rec = _orig_decode(data)
    if isinstance(rec, records.Invoke):
        mark(rec.invocation_id, "consumed")
    return rec


proc.records.decode = _decode  # the processor module's reference to runtime.log.records

_orig_process = proc.PartitionProcessor._process


async def _process(self, msgs):
    global _store_apply_wrapped
    if not _store_apply_wrapped:  # the processors share one store
        _wrap_store(self.deps.store)
        _store_apply_wrapped = True
    t0 = now()
    await _orig_process(self, msgs)
    t1 = now()
    D["process_batch_ms"].append((t1 - t0) * 1000)
    D["batch_records"].append(len(msgs))


proc.PartitionProcessor._process = _process

_orig_prefetch = proc.PartitionProcessor._prefetch


async def _prefetch(self, recs):
    t0 = now()
    out = await _orig_prefetch(self, recs)
    D["prefetch_ms"].append((now() - t0) * 1000)
    return out


proc.PartitionProcessor._prefetch = _prefetch

_store_apply_wrapped = False


def _wrap_store(store):
    orig = store.apply

    async def apply(partition, epoch, offset, ops):
        t0 = now()
        r = await orig(partition, epoch, offset, ops)
        D["store_apply_ms"].append((now() - t0) * 1000)
        D["ops_per_apply"].append(len(ops))
        return r

    store.apply = apply


_orig_machine_apply = pm.PartitionMachine.apply


def _machine_apply(self, decoded, completed, now_ms):
    t0 = now()
    batch = _orig_machine_apply(self, decoded, completed, now_ms)
    D["machine_apply_ms"].append((now() - t0) * 1000)
    D["effects_per_batch"].append(len(batch.effects))
    return batch


pm.PartitionMachine.apply = _machine_apply

# --- invoker
_orig_start = inv.InProcessInvoker.start


def _start(self, host, attempt):
    inv_id = attempt.invocation_id
    rec = T.get(inv_id)
    if rec is not None and "consumed" in rec and "applied" not in rec:
        rec["applied"] = now()  # effects run right after the batch's apply returned
    mark(inv_id, "attempt")
    return _orig_start(self, host, attempt)


inv.InProcessInvoker.start = _start

_orig_append = inv._Runner._append


def _append(self, rec):
    fut = _orig_append(self, rec)
    if isinstance(rec, records.AppendJournal):
        inv_id = self.inv_id
        mark(inv_id, "journal")
        fut.add_done_callback(lambda f: mark(inv_id, "journal_ack"))
    return fut


inv._Runner._append = _append

_orig_fast = inv._Runner._fast_response


def _fast_response(self, done):
    mark(self.inv_id, "published")
    return _orig_fast(self, done)


inv._Runner._fast_response = _fast_response

STAGES = [
    "http_in",
    "submit",
    "invoke_ack",
    "consumed",
    "applied",
    "attempt",
    "journal",
    "journal_ack",
    "published",
    "answered",
    "http_out",
]


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, max(0, int(round(p / 100 * len(v) + 0.5)) - 1))]


def report() -> None:
    out_path = os.environ.get("RT_TRACE_OUT")
    complete = [r for r in T.values() if all(s in r for s in STAGES)]
    res: dict = {"invocations_traced": len(T), "complete": len(complete), "stages": [], "steps": {}}
    for a, b in zip(STAGES, STAGES[1:], strict=False):
        v = [(r[b] - r[a]) * 1000 for r in complete]
        if v:
            res["stages"].append(
                {
                    "from": a,
                    "to": b,
                    "p50_ms": round(pct(v, 50), 3),
                    "p90_ms": round(pct(v, 90), 3),
                    "mean_ms": round(statistics.fmean(v), 3),
                }
            )
    tot = [(r["http_out"] - r["http_in"]) * 1000 for r in complete]
    if tot:
        res["total"] = {
            "p50_ms": round(pct(tot, 50), 3),
            "p90_ms": round(pct(tot, 90), 3),
            "mean_ms": round(statistics.fmean(tot), 3),
        }
    for k, v in D.items():
        if v:
            res["steps"][k] = {
                "n": len(v),
                "p50": round(pct(v, 50), 3),
                "p90": round(pct(v, 90), 3),
                "mean": round(statistics.fmean(v), 3),
            }
    text = json.dumps(res, indent=1)
    if out_path:
        with open(out_path, "w") as f:
            f.write(text + "\n")
    print(text, file=sys.stderr)


atexit.register(report)

if __name__ == "__main__":
    sys.argv = ["rt", *sys.argv[1:]]
    cli.main()
