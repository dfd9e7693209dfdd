"""Decoders for subscription source records: JSON, raw bytes, Avro, schema-registry Avro.

A decoder turns a record value into the handler's input bytes (what the
handler's serde reads): JSON passes through once it is checked to be valid
JSON, raw passes through untouched, Avro is decoded with fastavro and handed
to the handler as JSON. A value that cannot be decoded raises
:class:`RecordDecodeError`; the subscription intake sends that record to the
dead-letter topic (or skips it) instead of invoking the handler.
"""

from __future__ import annotations

import base64
import io
import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import fastavro
import msgspec


class RecordDecodeError(ValueError):
    """A source record's value does not match the subscription's format."""


class RecordDecoder(Protocol):
    """Turns a source record value into the handler's input bytes."""

    def decode(self, value: bytes | None, topic: str) -> bytes:
        """Return the handler input; raise :class:`RecordDecodeError` when undecodable."""
        ...


class JsonDecoder:
    """JSON values: checked, then passed through unchanged (the handler's serde parses them)."""

    def decode(self, value: bytes | None, topic: str) -> bytes:
        if value is None:
            raise RecordDecodeError("record has no value (null), expected JSON")
        try:
            msgspec.json.decode(value)
        except msgspec.DecodeError as e:
            raise RecordDecodeError(f"value is not valid JSON: {e}") from None
        return value


class RawDecoder:
    """Bytes as they are (handlers taking ``bytes``); a null value becomes empty input."""

    def decode(self, value: bytes | None, topic: str) -> bytes:
        return value or b""


def _json_default(obj: Any) -> Any:
    if isinstance(obj, bytes):
        return base64.b64encode(obj).decode()
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    return str(obj)


def _to_json(datum: Any) -> bytes:
    return json.dumps(datum, default=_json_default, separators=(",", ":")).encode()


def load_avro_schema(schema: str | Mapping[str, Any] | None, schema_file: str | None) -> Any:
    """Parse an Avro schema given inline (JSON text or dict) or as a file path.

    Raises:
        ValueError: When neither or both are given, the file is missing or the schema is invalid.
    """
    if (schema is None) == (schema_file is None):
        raise ValueError("give exactly one of an inline Avro schema or a schema file")
    try:
        if schema_file is not None:
            raw: Any = json.loads(Path(schema_file).read_text())
        elif isinstance(schema, str):
            raw = json.loads(schema)
        else:
            raw = dict(schema or {})
        return fastavro.parse_schema(raw)
    except FileNotFoundError:
        raise ValueError(f"Avro schema file not found: {schema_file}") from None
    except (json.JSONDecodeError, fastavro.schema.SchemaParseException, TypeError) as e:
        raise ValueError(f"invalid Avro schema: {e}") from None
    except Exception as e:  # fastavro raises several unrelated types for bad schemas
        raise ValueError(f"invalid Avro schema: {type(e).__name__}: {e}") from None


class AvroDecoder:
    """Schemaless Avro (the writer's schema is known up front), handed on as JSON."""

    def __init__(self, parsed_schema: Any) -> None:
        self._schema = parsed_schema

    def decode(self, value: bytes | None, topic: str) -> bytes:
        if value is None:
            raise RecordDecodeError("record has no value (null), expected Avro")
        buf = io.BytesIO(value)
        try:
            datum = fastavro.schemaless_reader(buf, self._schema, None)
        except Exception as e:  # noqa: BLE001 - fastavro raises EOFError, ValueError, IndexError...
            raise RecordDecodeError(f"value is not valid Avro: {type(e).__name__}: {e}") from None
        if buf.tell() != len(value):
            raise RecordDecodeError(
                f"value is not valid Avro: {len(value) - buf.tell()} trailing bytes after the datum"
            )
        return _to_json(datum)


class SchemaRegistryAvroDecoder:
    """Confluent wire format (magic 0, 4-byte schema id, Avro body), schemas fetched by id.

    Uses confluent-kafka's ``SchemaRegistryClient`` and ``AvroDeserializer``;
    the schema is cached by the client after the first fetch.
    """

    def __init__(self, registry_url: str) -> None:
        with warnings.catch_warnings():
            # authlib (used by the registry client) installs an "always" filter for its own
            # deprecation warning on import and then warns about httpx: import it first,
            # then ignore.
            import authlib.deprecate  # type: ignore[import-untyped]  # noqa: F401

            warnings.simplefilter("ignore")
            from confluent_kafka.schema_registry import SchemaRegistryClient
            from confluent_kafka.schema_registry.avro import AvroDeserializer
            from confluent_kafka.serialization import MessageField, SerializationContext

        self._client = SchemaRegistryClient({"url": registry_url})
        self._deserializer = AvroDeserializer(self._client)
        self._ctx = SerializationContext
        self._field = MessageField.VALUE

    def decode(self, value: bytes | None, topic: str) -> bytes:
        if value is None:
            raise RecordDecodeError("record has no value (null), expected schema-registry Avro")
        if len(value) < 5 or value[0] != 0:
            raise RecordDecodeError(
                "value is not in the schema-registry wire format (magic byte 0 + schema id)"
            )
        try:
            datum = self._deserializer(value, self._ctx(topic, self._field))
        except Exception as e:  # noqa: BLE001 - registry errors, bad ids and bad bodies alike
            raise RecordDecodeError(
                f"schema-registry Avro decoding failed: {type(e).__name__}: {e}"
            ) from None
        return _to_json(datum)


FORMATS = ("json", "avro", "raw")


def decoder_for(
    fmt: str,
    *,
    avro_schema: str | None = None,
    avro_schema_file: str | None = None,
    schema_registry_url: str | None = None,
) -> RecordDecoder:
    """The decoder for a subscription's ``format`` option.

    ``avro`` needs either a schema (inline or file: schemaless Avro) or a
    schema registry URL (Confluent wire format).

    Raises:
        ValueError: On an unknown format or a missing/invalid Avro schema.
    """
    if fmt == "json":
        return JsonDecoder()
    if fmt == "raw":
        return RawDecoder()
    if fmt == "avro":
        if schema_registry_url is not None:
            if avro_schema is not None or avro_schema_file is not None:
                raise ValueError("give either an Avro schema or a schema registry URL, not both")
            return SchemaRegistryAvroDecoder(schema_registry_url)
        return AvroDecoder(load_avro_schema(avro_schema, avro_schema_file))
    raise ValueError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
