"""Drive the partition machine from a golden file: a record log in, ops and effects out.

A golden file (``golden/*.json``) lists steps; each step's ``expect`` is what the
machine produced for it, rendered readably (journal entries, statuses, outbox
records and timers decoded; invocation ids shown by their symbols):

- ``{"batch": [record, ...], "now_ms": N}``: one consumed batch. Records are
  written as ``{"type": <record tag>, <field>: <value>, ...}``; journal entries as
  ``{"type": "SetStateCommand", ...}``; payloads (``bytes``) as UTF-8 text, or
  ``{"b64": ...}``; ``{"raw": "..."}`` is an undecodable record. Each record takes
  the next log offset. The batch goes through the processor's steps without I/O:
  decode, prefetch (from :class:`ModelRedis`, which holds every op applied so
  far), :meth:`PartitionMachine.apply`, then the ops are applied to the model.
- ``{"take_over": {"epoch": E}}``: a new owner loads the view from the model (as
  ``PartitionProcessor.take_over`` does) and drives the following batches.
- ``{"speculate": {"holder": id, "attempt": n, "state": {...}}}``: the holder's
  attempt returned (ADR 0013): the offer, if any, and that it was started.
- ``{"start": {"invocation_id": id, "attempt": n}}``: the processor runs a
  ``StartAttempt`` effect: the attempt to start (or null) and the speculations
  that were assuming the invocation's clean end (to stop).

Invocation ids are written as symbols, ``@name`` (``@name#3``: the awakeable of
command 3 of ``@name``); the ids they stand for are fixed by the name. A file's
``services`` (default :data:`DEFAULT_SERVICES`) are declared with the SDK and read
into the registry as a deployment's are.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import types
import typing
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec

import sdk
from runtime.invoker.services import registry_from_sdk
from runtime.log import records
from runtime.partition import effects as E
from runtime.partition.cron import decode_state as decode_cron
from runtime.partition.egress_outbox import decode_item
from runtime.partition.machine import PartitionMachine
from runtime.partition.outbox import OutboxItem
from runtime.partition.prefetch import prefetch
from runtime.partition.promises import WAITERS
from runtime.partition.services import ServiceCatalog
from runtime.partition.speculation import SpeculationOffer
from runtime.partition.state_cache import ObjectStates
from runtime.partition.status import InvocationStatus, Outcome, decode_status
from runtime.partition.timer import Timer, timer_decoder, timer_encoder
from runtime.registry import Registry
from runtime.state import store as S
from runtime.state.keys import PartitionKeys
from runtime.subscriptions.dlq import DlqItem, DlqOutbox
from runtime.subscriptions.mapping import invokes_of
from runtime.timers.wheel import TimerWheel
from sdk import _ids
from sdk import _journal as sj

GOLDEN_DIR = Path(__file__).parent / "golden"
PREFIX = "t"
PARTITION = 1
PARTITIONS = 4

DEFAULT_SERVICES: dict[str, Any] = {
    # Declared with the SDK (as a deployment would), read into the registry by the runtime.
    "Counter": {
        "type": "VirtualObject",
        "journal_retention_s": 60,
        "handlers": {"add": {}, "get": {"shared": True}, "lazyAdd": {"enable_lazy_state": True}},
    },
    "Greeter": {"type": "Service", "idempotency_retention_s": 600, "handlers": {"greet": {}}},
    "Signup": {
        "type": "Workflow",
        "handlers": {
            "run": {"main": True, "workflow_retention_s": 3600},
            "confirm": {"shared": True},
            "status": {"shared": True},
        },
    },
}

# ---------------------------------------------------------------------------- ids


def invocation_id(name: str) -> str:
    """The invocation id a symbol ``@name`` stands for (fixed by the name)."""
    part = hashlib.sha256(name.encode()).digest()[:16]
    return _ids.invocation_id_for(service="golden", key=name, uuid_part=part)


_SYMBOL = re.compile(r"@([A-Za-z0-9_]+)(?:#(\d+))?")


class Symbols:
    """``@name`` <-> invocation id, both ways (ids seen in outputs are named back)."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def resolve(self, text: str) -> str:
        def one(m: re.Match[str]) -> str:
            inv = invocation_id(m.group(1))
            self.names[inv] = "@" + m.group(1)
            if m.group(2) is None:
                return inv
            awk = _ids.awakeable_id(inv, int(m.group(2)))
            self.names[awk] = f"@{m.group(1)}#{m.group(2)}"
            return awk

        return _SYMBOL.sub(one, text)

    def name(self, text: str) -> str:
        for real, sym in self.names.items():
            if real in text:
                text = text.replace(real, sym)
        return text


# ---------------------------------------------------------------------------- JSON -> records


def _bytes(obj: Any) -> bytes:
    if isinstance(obj, dict):
        return base64.b64decode(obj["b64"])
    assert isinstance(obj, str), obj
    return obj.encode()


def _struct_tag(cls: type) -> Any:
    return cls.__struct_config__.tag


def build(tp: Any, obj: Any, sym: Symbols) -> Any:
    """A value of type ``tp`` from its readable JSON form."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if obj is None:
        return None
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        if isinstance(obj, dict) and "type" in obj:
            for a in options:
                if (
                    isinstance(a, type)
                    and issubclass(a, msgspec.Struct)
                    and (_struct_tag(a) == obj["type"])
                ):
                    return build(a, obj, sym)
        return build(options[0], obj, sym)
    if tp is bytes:
        return _bytes(obj)
    if tp is str:
        return sym.resolve(obj)
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        if isinstance(obj, list):
            hints = typing.get_type_hints(tp)
            names = [f.name for f in msgspec.structs.fields(tp)]
            return tp(*(build(hints[n], v, sym) for n, v in zip(names, obj, strict=False)))
        hints = typing.get_type_hints(tp)
        kwargs = {k: _field(tp, k, hints[k], v, sym) for k, v in obj.items() if k != "type"}
        return tp(**kwargs)
    if origin is list:
        return [build(args[0], v, sym) for v in obj]
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(build(args[0], v, sym) for v in obj)
        return tuple(build(a, v, sym) for a, v in zip(args, obj, strict=True))
    if origin is dict:
        return {build(args[0], k, sym): build(args[1], v, sym) for k, v in obj.items()}
    return obj


def _field(cls: type, name: str, tp: Any, obj: Any, sym: Symbols) -> Any:
    if (
        cls in (records.AppendJournal, records.BatchItem, records.PinDeployment)
        and name == "entries"
    ) or (cls is records.RestartAsNew and name == "journal"):
        return [sj.encode_entry(entry(e, sym)) for e in obj]
    if cls is records.TimerFired and name == "timer_id":
        return timer_encoder.encode(build(Timer, obj, sym))
    return build(tp, obj, sym)


def entry(obj: dict[str, Any], sym: Symbols) -> sj.JournalEntry:
    """An SDK journal entry from ``{"type": "SetStateCommand", "key": ..., ...}``."""
    cls = getattr(sj, obj["type"])
    built: sj.JournalEntry = build(cls, obj, sym)
    return built


_RECORD_TYPES = {_struct_tag(t): t for t in typing.get_args(records.Record)}


def record(obj: dict[str, Any], sym: Symbols) -> records.Record:
    rec: records.Record = build(_RECORD_TYPES[obj["type"]], obj, sym)
    return rec


# ---------------------------------------------------------------------------- rendering


def _text(b: bytes) -> Any:
    try:
        text = b.decode()
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(b).decode()}
    return text if text.isprintable() else {"b64": base64.b64encode(b).decode()}


def render(obj: Any) -> Any:
    """Readable JSON of a struct (fields at their defaults left out), bytes as text."""
    if isinstance(obj, msgspec.Struct):
        out: dict[str, Any] = {}
        tag = obj.__struct_config__.tag
        if isinstance(tag, str):
            out["type"] = tag
        for f in msgspec.structs.fields(obj):
            v = getattr(obj, f.name)
            default = f.default if f.default is not msgspec.NODEFAULT else None
            if f.default_factory is not msgspec.NODEFAULT:
                default = f.default_factory()
            if f.required or v != default:
                out[f.name] = render(v)
        return out
    if isinstance(obj, bytes):
        return _text(obj)
    if isinstance(obj, dict):
        return {str(render(k)) if not isinstance(k, str) else k: render(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [render(v) for v in obj]
    if isinstance(obj, float) and obj.is_integer():
        return int(obj)
    return obj


def render_entry(blob: bytes) -> Any:
    return render(sj.decode_entry(blob))


def render_record(blob: bytes) -> Any:
    rec = records.decode(blob)
    out = render(rec)
    if isinstance(rec, records.AppendJournal):
        out["entries"] = [render_entry(e) for e in rec.entries]
    if isinstance(rec, records.TimerFired):
        out["timer_id"] = render(timer_decoder.decode(rec.timer_id))
    return out


def render_status(st: InvocationStatus) -> Any:
    out = render(st)
    out["target"] = render_target(st.target)
    return out


def render_target(t: records.Target) -> str:
    key = f"[{t.key}]" if t.key is not None else ""
    return f"{t.service}{key}.{t.handler} ({t.kind})"


class Renderer:
    def __init__(self, keys: PartitionKeys) -> None:
        self.base = keys.base

    def key(self, key: str) -> str:
        return key.removeprefix(self.base)

    def op(self, op: S.Op) -> Any:
        name = type(op).__name__
        key = self.key(op.key)
        kind = key.split(":", 1)[0]
        match op:
            case S.Set(value=v) if kind == "inv":
                return {"op": name, "key": key, "status": render_status(decode_status(v))}
            case S.RPush(values=vs) if kind == "journal":
                return {"op": name, "key": key, "entries": [render_entry(v) for v in vs]}
            case S.HSet(field=f, value=v):
                return {
                    "op": name,
                    "key": key,
                    "field": self._field(kind, f),
                    **self._hvalue(kind, f, v),
                }
            case S.HDel(field=f):
                return {"op": name, "key": key, "field": self._field(kind, f)}
            case S.ZAdd(score=score, member=m) if kind.startswith("history"):
                return {"op": name, "key": key, "score": int(score), "member": _text(m)}
            case S.ZRem(member=m) if kind.startswith("history"):
                return {"op": name, "key": key, "member": _text(m)}
            case S.ZTrim(also=also, max_score=score, limit=limit):
                return {
                    "op": name,
                    "key": key,
                    "also": self.key(also),
                    "max_score": int(score),
                    "limit": limit,
                }
            case S.ZAdd(score=score, member=m):
                return {
                    "op": name,
                    "key": key,
                    "due": int(score),
                    "timer": render(timer_decoder.decode(m)),
                }
            case S.ZRem(member=m):
                return {"op": name, "key": key, "timer": render(timer_decoder.decode(m))}
            case _:
                out = render(op)
                out.pop("type", None)
                return {"op": name, **out, "key": key}

    @staticmethod
    def _field(kind: str, f: str | bytes) -> Any:
        text = f.decode() if isinstance(f, bytes) else f
        if kind == "promise" and text.startswith(WAITERS):
            return "waiters:" + text.removeprefix(WAITERS)
        return text

    @staticmethod
    def _hvalue(kind: str, f: str | bytes, v: bytes) -> dict[str, Any]:
        if kind == "outbox":
            item = msgspec.msgpack.decode(v, type=OutboxItem)
            return {
                "partition": item.partition,
                "routing_key": _text(item.key),
                "seq": item.seq,
                "record": render_record(item.record),
            }
        if kind == "promise":
            text = f.decode() if isinstance(f, bytes) else f
            if text.startswith(WAITERS):
                return {"waiters": msgspec.msgpack.decode(v)}
            return {"outcome": render(msgspec.msgpack.decode(v, type=Outcome))}
        if kind == "egress":
            return {"item": render(decode_item(v))}
        if kind == "cron":
            return {"job": render(decode_cron(v))}
        if kind == "dlq":
            return {"item": render(msgspec.msgpack.decode(v, type=DlqItem))}
        return {"value": _text(v)}

    def effect(self, e: E.Effect) -> Any:
        out: dict[str, Any] = {"effect": type(e).__name__}
        for f in msgspec.structs.fields(e):
            v = getattr(e, f.name)
            if f.name == "entry":
                out[f.name] = render_entry(v)
            elif f.name == "record":
                out[f.name] = render_record(records.encode(v))
            elif f.name == "blob":
                out[f.name] = render(msgspec.msgpack.decode(v, type=DlqItem))
            elif f.name == "sinks":
                out[f.name] = [render(s) for s in v]
            elif v is not None and (f.required or v != f.default):
                out[f.name] = render(v)
        return out


# ---------------------------------------------------------------------------- Redis model


class ModelRedis:
    """The partition's keys as the applied ops left them (what prefetch reads)."""

    def __init__(self) -> None:
        self.strings: dict[str, bytes] = {}
        self.hashes: dict[str, dict[bytes, bytes]] = {}
        self.lists: dict[str, list[bytes]] = {}
        self.zsets: dict[str, dict[bytes, float]] = {}
        self.ttl: dict[str, int] = {}

    def apply(self, ops: Sequence[S.Op]) -> None:
        for op in ops:
            match op:
                case S.Set(key=k, value=v):
                    self.strings[k] = v
                    self.ttl.pop(k, None)
                case S.Delete(key=k):
                    for m in (self.strings, self.hashes, self.lists, self.zsets, self.ttl):
                        m.pop(k, None)
                case S.HSet(key=k, field=f, value=v):
                    self.hashes.setdefault(k, {})[f.encode() if isinstance(f, str) else f] = v
                case S.HDel(key=k, field=f):
                    self.hashes.get(k, {}).pop(f.encode() if isinstance(f, str) else f, None)
                case S.RPush(key=k, values=vs):
                    self.lists.setdefault(k, []).extend(vs)
                case S.LTrim(key=k, start=a, stop=z):
                    items = self.lists.get(k, [])
                    n = len(items)
                    a, z = (a + n if a < 0 else a), (z + n if z < 0 else z)
                    self.lists[k] = items[max(a, 0) : z + 1]
                case S.ZAdd(key=k, score=s, member=m):
                    self.zsets.setdefault(k, {})[m] = s
                case S.ZRem(key=k, member=m):
                    self.zsets.get(k, {}).pop(m, None)
                case S.ZTrim(key=k, also=also, max_score=top, limit=n):
                    zset = self.zsets.get(k, {})
                    gone = sorted((s, m) for m, s in zset.items() if s <= top)[:n]
                    for _, m in gone:
                        zset.pop(m, None)
                        self.zsets.get(also, {}).pop(m, None)
                case S.PExpire(key=k, ms=ms):
                    self.ttl[k] = ms
                case _:
                    raise AssertionError(f"op the machine never emits: {op}")

    async def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        return [self.strings.get(k) for k in keys]

    async def hgetall(self, key: str) -> dict[bytes, bytes]:
        return dict(self.hashes.get(key, {}))

    async def hgetall_many(self, keys: Sequence[str]) -> list[dict[bytes, bytes]]:
        return [dict(self.hashes.get(k, {})) for k in keys]

    async def lrange(self, key: str, start: int, stop: int) -> list[bytes]:
        return self.lists.get(key, [])[start : stop + 1]

    async def timers_pending(self, partition: int, members: Sequence[bytes]) -> list[bool]:
        zset = self.zsets.get(PartitionKeys(PREFIX, partition).timers, {})
        return [m in zset for m in members]

    async def timers_between(
        self, partition: int, min_ms: int, max_ms: int, limit: int
    ) -> list[tuple[bytes, float]]:
        zset = self.zsets.get(PartitionKeys(PREFIX, partition).timers, {})
        due = sorted((s, m) for m, s in zset.items() if min_ms <= s <= max_ms)
        return [(m, s) for s, m in due[:limit]]


# ---------------------------------------------------------------------------- the runner


def registry_of(spec: dict[str, Any]) -> Registry:
    """The registry of services declared with the SDK from a golden file's ``services``."""
    kinds = {"Service": sdk.Service, "VirtualObject": sdk.VirtualObject, "Workflow": sdk.Workflow}
    definitions = []
    for name, svc in spec.items():
        definition = kinds[svc["type"]](name, **_retentions(svc))
        for handler, opts in svc["handlers"].items():
            kw = _retentions(opts)
            if opts.get("enable_lazy_state"):
                kw["enable_lazy_state"] = True
            if opts.get("main"):
                definition.main(**kw)(_handler(handler))
            elif opts.get("shared"):
                definition.handler(kind="shared", **kw)(_handler(handler))
            else:
                definition.handler(**kw)(_handler(handler))
        definitions.append(definition)
    return registry_from_sdk(definitions)


def _retentions(opts: dict[str, Any]) -> dict[str, Any]:
    return {
        k.removesuffix("_s"): timedelta(seconds=v)
        for k, v in opts.items()
        if k.endswith("_retention_s")
    }


def _handler(name: str) -> Any:
    async def handler(ctx: Any) -> None:
        return None

    handler.__name__ = handler.__qualname__ = name
    return handler


class GoldenRun:
    """One golden file's machine, Redis model and clock."""

    def __init__(self, golden: dict[str, Any], redis: ModelRedis | None = None) -> None:
        self.sym = Symbols()
        self.keys = PartitionKeys(PREFIX, PARTITION)
        self.redis = redis if redis is not None else ModelRedis()
        self.catalog = ServiceCatalog(registry_of(golden.get("services", DEFAULT_SERVICES)))
        self.render = Renderer(self.keys)
        self.now_ms: int = golden.get("now_ms", 1_000_000)
        self.offset = 0
        self.machine = self.new_machine(golden.get("epoch", 1))

    def new_machine(self, epoch: int) -> PartitionMachine:
        """A machine of a new owner with ``epoch``, over the same Redis model."""
        redis = self.redis
        states = ObjectStates(lambda oks: redis.hgetall_many([self.keys.state(*ok) for ok in oks]))
        self.wheel = TimerWheel(redis, PARTITION, _no_fire, lambda: False)
        machine = PartitionMachine(
            self.keys,
            PARTITIONS,
            self.catalog,
            self.wheel,
            states,
            invokes_of,
            DlqOutbox,  # its format's static methods
        )
        machine.epoch = epoch
        return machine

    async def step(self, step: dict[str, Any]) -> Any:
        if "batch" in step:
            return await self._batch(step["batch"], step.get("now_ms", self.now_ms))
        if "take_over" in step:
            return await self._take_over(step["take_over"]["epoch"])
        if "speculate" in step:
            return self._speculate(step["speculate"])
        if "start" in step:
            return self._start(step["start"])
        raise AssertionError(f"unknown step {step}")

    async def _batch(self, objs: list[dict[str, Any]], now_ms: int) -> Any:
        self.now_ms = now_ms
        machine = self.machine
        decoded: list[tuple[int, records.Record]] = []
        for obj in objs:  # as PartitionProcessor._process_batch, Step 1
            offset, self.offset = self.offset, self.offset + 1
            value = obj["raw"].encode() if "raw" in obj else records.encode(record(obj, self.sym))
            try:
                rec = records.decode(value)
            except msgspec.DecodeError:
                decoded.append((offset, records.Purge("")))
                continue
            if isinstance(rec, records.SubscriptionBatch):
                decoded.extend((offset, inv) for inv in machine.expand(offset, rec))
                continue
            decoded.append((offset, rec))
        completed = await prefetch(machine, (r for _, r in decoded), self.redis)
        await self.wheel.prefetch(
            [r.timer_id for _, r in decoded if isinstance(r, records.TimerFired)]
        )
        batch = machine.apply(decoded, completed, now_ms)
        self.redis.apply(batch.ops)
        return self._named(
            {
                "ops": [self.render.op(op) for op in batch.ops],
                "effects": [self.render.effect(e) for e in batch.effects],
                "view": self.view(),
            }
        )

    async def _take_over(self, epoch: int) -> Any:
        """As ``PartitionProcessor._load``: the view from what Redis holds."""
        self.machine = machine = self.new_machine(epoch)
        meta = await self.redis.hgetall(self.keys.meta)
        ids = [k.decode() for k in await self.redis.hgetall(self.keys.active)]
        blobs = await self.redis.mget([self.keys.inv(i) for i in ids])
        machine.restore(
            (decode_status(b) for b in blobs if b is not None), int(meta.get(b"leader", 0))
        )
        await self.wheel.load()
        machine.egress.load(await self.redis.hgetall(self.keys.egress))
        await machine.cron.load(self.redis)
        return self._named({"view": self.view()})

    def _speculate(self, spec: dict[str, Any]) -> Any:
        state = {k: _bytes(v) for k, v in spec.get("state", {}).items()}
        holder = self.sym.resolve(spec["holder"])
        offer = self.machine.handoff.offer(holder, spec["attempt"], state)
        if offer is not None:
            ok = offer.status.object_key
            assert ok is not None
            self.machine.handoff.started(ok, offer.status.invocation_id, offer.attempt, offer.pred)
        return self._named({"offer": _render_offer(offer), "view": self.view()})

    def _start(self, spec: dict[str, Any]) -> Any:
        started = self.machine.attempt_starting(
            self.sym.resolve(spec["invocation_id"]), spec["attempt"]
        )
        out: dict[str, Any] = {"starts": None, "drop": []}
        if started is not None:
            st, journal, dropped = started
            out = {
                "starts": {"invocation_id": st.invocation_id, "attempt": st.attempt},
                "journal": None if journal is None else [render_entry(j) for j in journal],
                "drop": [render(s) for s in dropped],
            }
        return self._named({**out, "view": self.view()})

    def view(self) -> Any:
        m = self.machine
        return {
            "active": {i: f"{st.status.value}#{st.attempt}" for i, st in sorted(m.active.items())},
            "locks": {f"{s}/{k}": v for (s, k), v in sorted(m.locks.items())},
            "inboxes": {f"{s}/{k}": list(q) for (s, k), q in sorted(m.inboxes.items()) if q},
            "speculations": {
                f"{s}/{k}": render(v) for (s, k), v in sorted(m.handoff.by_key.items())
            },
        }

    def _named(self, out: Any) -> Any:
        """Ids in the output shown by their symbols."""
        return json.loads(self.sym.name(json.dumps(out)))


def _render_offer(offer: SpeculationOffer | None) -> Any:
    if offer is None:
        return None
    return {
        "invocation_id": offer.status.invocation_id,
        "attempt": offer.attempt,
        "journal": [render_entry(j) for j in offer.journal],
        "state": render(offer.state),
        "after": list(offer.pred),
    }


def _no_fire(member: bytes) -> Any:
    raise AssertionError("the golden runner never fires timers")


# ---------------------------------------------------------------------------- files


def dumps(obj: Any, indent: int = 0, width: int = 110) -> str:
    """JSON with short containers on one line (one op, effect or record per line)."""
    one = json.dumps(obj, ensure_ascii=False)
    if not isinstance(obj, (dict, list)) or len(one) + indent <= width or not obj:
        return one
    pad = " " * (indent + 2)
    if isinstance(obj, dict):
        items = [f"{pad}{json.dumps(k)}: {dumps(v, indent + 2, width)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    items = [pad + dumps(v, indent + 2, width) for v in obj]
    return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"


async def run_file(path: Path) -> tuple[dict[str, Any], list[Any]]:
    """The golden file and what the machine produced for each of its steps."""
    golden = json.loads(path.read_text())
    run = GoldenRun(golden)
    return golden, [await run.step(step) for step in golden["steps"]]
