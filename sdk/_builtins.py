"""rt's built-in services: names and payload formats shared by callers and handlers (private).

Owns the contract of ``docs/decisions/0021-remote-sdk-and-builtins.md`` §4: a handler
that runs behind Restate's service protocol cannot journal rt-only commands, so it
sends to a built-in service hosted in-process by rt instead. Today one:

- ``rt.Kafka`` (virtual object, keyed by the emitting invocation's id), handler
  ``emit``: write one Kafka record; input JSON ``{"topic": str, "value": b64,
  "key": b64 | null, "headers": {str: b64}}`` (standard base64).

The services themselves are defined in ``sdk._builtin_services`` (they call the public
SDK, which imports this module).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

KAFKA_SERVICE = "rt.Kafka"
KAFKA_EMIT = "emit"


@dataclass(frozen=True)
class EmitRecord:
    """One record for ``rt.Kafka/emit``."""

    topic: str
    value: bytes
    key: bytes | None = None
    headers: Mapping[str, bytes] | None = None


def encode_emit(record: EmitRecord) -> bytes:
    """The JSON input of ``rt.Kafka/emit`` for ``record``."""
    doc: dict[str, Any] = {"topic": record.topic, "value": _b64(record.value)}
    if record.key is not None:
        doc["key"] = _b64(record.key)
    if record.headers:
        doc["headers"] = {k: _b64(v) for k, v in record.headers.items()}
    return json.dumps(doc, separators=(",", ":")).encode()


def decode_emit(doc: object) -> EmitRecord:
    """Read the (JSON-decoded) input of ``rt.Kafka/emit``.

    Raises:
        ValueError: not the format above (the built-in answers 400).
    """
    if not isinstance(doc, dict):
        raise ValueError(f"rt.Kafka/emit takes a JSON object, got {type(doc).__name__}")
    unknown = set(doc) - {"topic", "value", "key", "headers"}
    if unknown:
        raise ValueError(f"rt.Kafka/emit: unknown fields {sorted(unknown)}")
    topic = doc.get("topic")
    if not isinstance(topic, str):
        raise ValueError("rt.Kafka/emit: 'topic' must be a string")
    key = doc.get("key")
    headers = doc.get("headers")
    if headers is None:
        headers = {}
    if not isinstance(headers, dict):
        raise ValueError("rt.Kafka/emit: 'headers' must be an object")
    return EmitRecord(
        topic=topic,
        value=_unb64("value", doc.get("value")),
        key=None if key is None else _unb64("key", key),
        headers={str(k): _unb64(f"headers.{k}", v) for k, v in headers.items()},
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(field: str, text: object) -> bytes:
    if not isinstance(text, str):
        raise ValueError(f"rt.Kafka/emit: {field!r} must be a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as e:
        raise ValueError(f"rt.Kafka/emit: {field!r} is not base64: {e}") from None
