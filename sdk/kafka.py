"""Kafka egress from handlers: ``emit(ctx, topic, value)`` (an rt extension).

restate-sdk has no Kafka egress, so this lives in its own module and leaves the
Restate-mirrored context signatures alone. An emit is a journaled command
(:class:`sdk.engine.EmitCommand`): on replay it is matched against the journal,
never issued again, and the runtime writes the record to the topic exactly once,
only after the journal entry is durable (invariants 4 and 8; see
``docs/decisions/0005-egress-and-pipelines.md``). A handler served over Restate's
service protocol (``sdk.app`` registered by URL) sends the record to rt's built-in
``rt.Kafka`` service instead, which journals the Emit (ADR 0021): same call, same
guarantees.

Example:
    >>> from sdk.kafka import emit, RAW
    >>> @orders.handler()  # doctest: +SKIP
    ... async def place(ctx: ObjectContext, order: Order) -> None:
    ...     emit(ctx, "orders.placed", order, key=ctx.key())
    ...     emit(ctx, "audit", b"raw bytes", serde=RAW)
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from sdk._builtins import KAFKA_EMIT, KAFKA_SERVICE, EmitRecord, encode_emit
from sdk._engine import TopicCheck
from sdk._journal import EmitCommand
from sdk.context import Context
from sdk.exceptions import TerminalError
from sdk.serde import DefaultSerde

__all__ = [
    "JSON",
    "RAW",
    "AvroSerializer",
    "BytesSerializer",
    "JsonSerializer",
    "Serializer",
    "TopicCheck",
    "emit",
    "validate_topic_name",
]

MAX_TOPIC_LENGTH = 249
MAX_RECORD_BYTES = 1_000_000
"""librdkafka's default ``message.max.bytes``: a bigger record would be refused at send time."""
_TOPIC_OK = re.compile(r"[A-Za-z0-9._-]+\Z")


@runtime_checkable
class Serializer(Protocol):
    """Turns a value into the bytes of a Kafka record (any ``sdk.serde.Serde`` fits)."""

    def serialize(self, obj: Any) -> bytes:
        """Encode ``obj``; raise on values the format cannot represent."""
        ...


class JsonSerializer:
    """JSON by runtime type: primitives, dicts, lists, dataclasses, pydantic models, structs."""

    def __init__(self) -> None:
        self._serde: DefaultSerde[Any] = DefaultSerde()

    def serialize(self, obj: Any) -> bytes:
        """Encode ``obj`` as JSON."""
        return self._serde.serialize(obj)


class BytesSerializer:
    """Raw bytes, written as they are (``bytes``, ``bytearray`` or ``memoryview``)."""

    def serialize(self, obj: Any) -> bytes:
        """Return ``obj`` as bytes; anything else is an error."""
        if not isinstance(obj, bytes | bytearray | memoryview):
            raise TypeError(f"raw serde needs bytes, got {type(obj).__name__}")
        return bytes(obj)


class AvroSerializer:
    """Avro binary (schemaless, the schema given inline) through fastavro.

    Args:
        schema: The Avro schema as a dict (or a type name); parsed once.

    Raises:
        ValueError: The schema is not a valid Avro schema.
    """

    def __init__(self, schema: dict[str, Any] | str) -> None:
        import fastavro

        try:
            self._schema = fastavro.parse_schema(schema)
        except Exception as e:  # fastavro raises several types for bad schemas
            raise ValueError(f"invalid Avro schema: {e}") from e

    def serialize(self, obj: Any) -> bytes:
        """Encode ``obj`` against the schema (``ValueError`` when it does not match)."""
        import fastavro

        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, self._schema, obj)
        return buf.getvalue()


JSON: Serializer = JsonSerializer()
"""The default value serde."""
RAW: Serializer = BytesSerializer()
"""Values are bytes already."""


def validate_topic_name(topic: object) -> str | None:
    """Kafka's rules for a legal topic name; returns the problem, or None when legal."""
    if not isinstance(topic, str):
        return f"topic must be a str, got {type(topic).__name__}"
    if topic in ("", ".", ".."):
        return f"invalid topic name {topic!r}"
    if len(topic) > MAX_TOPIC_LENGTH:
        return f"invalid topic name: longer than {MAX_TOPIC_LENGTH} characters"
    if not _TOPIC_OK.match(topic):
        return f"invalid topic name {topic!r}: only ASCII letters, digits, '.', '_' and '-'"
    return None


def _encode_key(key: str | bytes | None) -> bytes | None:
    if key is None or isinstance(key, bytes):
        return key
    if isinstance(key, str):
        return key.encode()
    raise TerminalError(f"emit: key must be str, bytes or None, got {type(key).__name__}", 400)


def _encode_headers(headers: Mapping[str, str | bytes] | None) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for name, value in (headers or {}).items():
        if not isinstance(name, str):
            raise TerminalError("emit: header names must be str", 400)
        if isinstance(value, str):
            out[name] = value.encode()
        elif isinstance(value, bytes):
            out[name] = value
        else:
            raise TerminalError(
                f"emit: header {name!r} must be str or bytes, got {type(value).__name__}", 400
            )
    return out


def emit(
    ctx: Context,
    topic: str,
    value: Any,
    *,
    key: str | bytes | None = None,
    headers: Mapping[str, str | bytes] | None = None,
    serde: Serializer = JSON,
) -> None:
    """Write a record to a Kafka topic, exactly once, after this step is durable.

    The record is journaled like a one-way send; it becomes visible to
    ``read_committed`` consumers only after its journal entry is durable, and a
    retried or replayed handler never writes it twice. Records of one
    invocation reach their topic in emit order.

    Args:
        ctx: The handler's context (any kind).
        topic: An existing Kafka topic (not one of rt's own).
        value: The record value, encoded with ``serde``.
        key: Record key (``str`` is UTF-8 encoded); None for no key.
        headers: Record headers (``str`` values are UTF-8 encoded).
        serde: Value encoder: :data:`JSON` (default), :data:`RAW`,
            :class:`AvroSerializer`, or any ``sdk.serde.Serde``.

    Raises:
        TerminalError: 400 for an invalid topic name, key or header, a value the
            serde cannot encode, or a record over 1 MB; 404 for a topic that does
            not exist.

    Example:
        >>> emit(ctx, "totals", {"user": "alice", "total": 12}, key="alice")  # doctest: +SKIP
    """
    driver = getattr(ctx, "_driver", None)
    if driver is None:
        raise TypeError("emit() needs the handler's context")
    problem = validate_topic_name(topic)
    if problem is not None:
        raise TerminalError(f"emit: {problem}", 400)
    try:
        data = serde.serialize(value)
    except TerminalError:
        raise
    except Exception as e:  # the serde's own error says what is wrong with the value
        raise TerminalError(
            f"emit to {topic!r}: cannot serialize {type(value).__name__} value: {e}", 400
        ) from None
    if not isinstance(data, bytes):
        raise TerminalError(f"emit to {topic!r}: serde returned {type(data).__name__}, not bytes")
    cmd = EmitCommand(
        topic=topic, key=_encode_key(key), value=data, headers=_encode_headers(headers)
    )
    size = len(data) + len(cmd.key or b"") + sum(len(k) + len(v) for k, v in cmd.headers.items())
    if size > MAX_RECORD_BYTES:
        raise TerminalError(
            f"emit to {topic!r}: record of {size} bytes exceeds the {MAX_RECORD_BYTES}-byte limit",
            400,
        )
    if driver.remote_id is not None:
        # Behind Restate's service protocol there is no Emit command: send the record to
        # rt's built-in rt.Kafka, keyed by this invocation (order kept), whose in-runtime
        # handler journals the Emit and checks the topic (ADR 0021 section 4).
        record = EmitRecord(topic, cmd.value, cmd.key, cmd.headers)
        ctx._send(  # type: ignore[attr-defined]
            KAFKA_SERVICE,
            KAFKA_EMIT,
            driver.invocation.invocation_id,
            encode_emit(record),
            None,
            None,
            None,
        )
        return
    # Replayed emits were checked when first issued; only a new one asks the runtime
    # that runs this attempt (its driver's check).
    check: TopicCheck | None = driver.topic_check
    if check is not None and not driver.is_replaying:
        err = check(topic)
        if err is not None:
            raise TerminalError(f"emit: {err}", 404)
    driver.issue(lambda _i: cmd)
