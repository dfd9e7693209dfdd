"""Identifier formats shared by the SDK and the runtime (public face: :mod:`sdk.ids`).

NEVER CHANGE these formats: invocation ids, awakeable ids and the routing hash
are persisted in Kafka records and Redis keys and handed to users. A change
would orphan every invocation already accepted. ``tests/unit/test_ids.py``
pins them with fixed vectors.

An invocation id embeds the 32-bit routing hash of its target, so any
component (ingress attach, cancel, awakeable completion) can find the owning
partition from the id alone: ``partition = routing_hash % partitions``.

- keyed targets (virtual objects, workflows): hash = murmur2("service/key")
- plain services: hash = murmur2(the id's own 16 uuid bytes); the routing key
  of a plain service invocation is therefore the invocation id itself.
"""

from __future__ import annotations

import hashlib
import os
import struct

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}

INVOCATION_PREFIX = "inv_"
AWAKEABLE_PREFIX = "prom_"
_ID_BYTES = 20  # 4-byte routing hash + 16-byte uuid part
_ID_CHARS = 27  # ceil(160 / log2(62))
_AWK_BYTES = 24  # invocation id bytes + 4-byte command index
_AWK_CHARS = 33  # ceil(192 / log2(62))


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (``org.apache.kafka.common.utils.Utils.murmur2``), as a signed int32."""
    length = len(data)
    seed = 0x9747B28C
    m = 0x5BD1E995
    r = 24
    h = (seed ^ length) & 0xFFFFFFFF
    length4 = length // 4
    for i in range(length4):
        i4 = i * 4
        k = (
            (data[i4 + 0] & 0xFF)
            | ((data[i4 + 1] & 0xFF) << 8)
            | ((data[i4 + 2] & 0xFF) << 16)
            | ((data[i4 + 3] & 0xFF) << 24)
        )
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    extra = length % 4
    base = length & ~3
    if extra == 3:
        h ^= (data[base + 2] & 0xFF) << 16
    if extra >= 2:
        h ^= (data[base + 1] & 0xFF) << 8
    if extra >= 1:
        h ^= data[base] & 0xFF
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def routing_hash(routing_key: bytes) -> int:
    """Positive 31-bit hash, as Kafka's ``toPositive(murmur2(key))``."""
    return murmur2(routing_key) & 0x7FFFFFFF


def keyed_routing_key(service: str, key: str) -> bytes:
    """Routing key of a virtual object or workflow instance."""
    return f"{service}/{key}".encode()


def partition_for_hash(rhash: int, partitions: int) -> int:
    """The partition of rt.log that owns routing hash ``rhash``."""
    return rhash % partitions


_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
"""Two base62 digits per divmod: the same output in half the big-int divisions."""


def _b62encode(data: bytes, width: int) -> str:
    n = int.from_bytes(data, "big")
    out = []
    while n:
        n, rem = divmod(n, 3844)
        out.append(_PAIRS[rem])
    return "".join(reversed(out)).lstrip("0").rjust(width, "0")


def _b62decode(text: str, nbytes: int) -> bytes:
    n = 0
    for c in text:
        try:
            n = n * 62 + _INDEX[c]
        except KeyError:
            raise ValueError(f"invalid character {c!r}") from None
    try:
        return n.to_bytes(nbytes, "big")
    except OverflowError:
        raise ValueError("value out of range") from None


class InvalidIdError(ValueError):
    """A string that is not a well-formed rt identifier."""


def make_invocation_id(rhash: int, uuid_part: bytes) -> str:
    """The invocation id of routing hash ``rhash`` and 16 ``uuid_part`` bytes."""
    return INVOCATION_PREFIX + _b62encode(struct.pack(">I", rhash) + uuid_part, _ID_CHARS)


def invocation_id_for(*, service: str, key: str | None, uuid_part: bytes | None = None) -> str:
    """A new invocation id for a target; random unless ``uuid_part`` (16 bytes) is given."""
    part = uuid_part if uuid_part is not None else os.urandom(16)
    if len(part) != 16:
        raise ValueError("uuid_part must be 16 bytes")
    routing_key = part if key is None else keyed_routing_key(service, key)
    rhash = routing_hash(routing_key)
    return make_invocation_id(rhash, part)


def _digest(*parts: str | bytes) -> bytes:
    h = hashlib.sha256()
    for p in parts:
        b = p.encode() if isinstance(p, str) else p
        h.update(struct.pack(">I", len(b)))
        h.update(b)
    return h.digest()[:16]


def idempotent_invocation_id(service: str, handler: str, key: str | None, idem_key: str) -> str:
    """Deterministic id of an idempotent request: duplicates find the same id."""
    return invocation_id_for(
        service=service, key=key, uuid_part=_digest("ik", service, key or "", handler, idem_key)
    )


def workflow_invocation_id(service: str, key: str) -> str:
    """Deterministic id of a workflow's run: one per workflow id."""
    return invocation_id_for(service=service, key=key, uuid_part=_digest("wf", service, key))


def child_invocation_id(parent_id: str, command_index: int, service: str, key: str | None) -> str:
    """Deterministic id of a call/send issued by command ``command_index`` of ``parent_id``."""
    return invocation_id_for(
        service=service, key=key, uuid_part=_digest("child", parent_id, str(command_index))
    )


def subscription_invocation_id(
    subscription_id: str, topic: str, partition: int, offset: int, service: str, key: str | None
) -> str:
    """Deterministic id of the invocation made from one source record (exactly-once intake)."""
    return invocation_id_for(
        service=service,
        key=key,
        uuid_part=_digest("sub", subscription_id, topic, str(partition), str(offset)),
    )


def cron_invocation_id(job_id: str, tick_ms: int, service: str, key: str | None) -> str:
    """Deterministic id of the invocation a cron job makes for its tick at ``tick_ms``."""
    return invocation_id_for(
        service=service, key=key, uuid_part=_digest("cron", job_id, str(tick_ms))
    )


def parse_invocation_id(text: str) -> tuple[int, bytes]:
    """Return ``(routing_hash, uuid_part)``; raise InvalidIdError when malformed."""
    if not text.startswith(INVOCATION_PREFIX) or len(text) != len(INVOCATION_PREFIX) + _ID_CHARS:
        raise InvalidIdError(f"bad invocation id '{text}'")
    try:
        raw = _b62decode(text[len(INVOCATION_PREFIX) :], _ID_BYTES)
    except ValueError as e:
        raise InvalidIdError(f"bad invocation id '{text}': {e}") from None
    (rhash,) = struct.unpack(">I", raw[:4])
    if rhash > 0x7FFFFFFF:
        raise InvalidIdError(f"bad invocation id '{text}'")
    return rhash, raw[4:]


def awakeable_id(invocation_id: str, command_index: int) -> str:
    """Id of the awakeable created by command ``command_index`` of an invocation."""
    rhash, part = parse_invocation_id(invocation_id)
    raw = struct.pack(">I", rhash) + part + struct.pack(">I", command_index)
    return AWAKEABLE_PREFIX + _b62encode(raw, _AWK_CHARS)


def parse_awakeable_id(text: str) -> tuple[str, int]:
    """Return ``(invocation_id, command_index)``; raise InvalidIdError when malformed."""
    if not text.startswith(AWAKEABLE_PREFIX) or len(text) != len(AWAKEABLE_PREFIX) + _AWK_CHARS:
        raise InvalidIdError(f"bad awakeable id '{text}'")
    try:
        raw = _b62decode(text[len(AWAKEABLE_PREFIX) :], _AWK_BYTES)
    except ValueError as e:
        raise InvalidIdError(f"bad awakeable id '{text}': {e}") from None
    inv = make_invocation_id(struct.unpack(">I", raw[:4])[0], raw[4:20])
    (index,) = struct.unpack(">I", raw[20:])
    return inv, index
