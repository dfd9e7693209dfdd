"""Serde of source records: JSON, raw, Avro (inline/file), schema-registry wire format."""

from __future__ import annotations

import io
import json
import struct
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import fastavro
import pytest

from connectors.serde import (
    AvroDecoder,
    JsonDecoder,
    RawDecoder,
    RecordDecodeError,
    SchemaRegistryAvroDecoder,
    decoder_for,
    load_avro_schema,
)

SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "Order",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "qty", "type": "int"},
        {"name": "blob", "type": "bytes"},
    ],
}


def avro_body(datum: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(SCHEMA), datum)
    return buf.getvalue()


def test_json_passes_valid_values_through_unchanged() -> None:
    assert JsonDecoder().decode(b'{"a": 1}', "t") == b'{"a": 1}'
    assert JsonDecoder().decode(b"3", "t") == b"3"


@pytest.mark.parametrize("bad", [b"{", b"not json", b"", b"\xff"])
def test_json_refuses_garbage(bad: bytes) -> None:
    with pytest.raises(RecordDecodeError, match="not valid JSON"):
        JsonDecoder().decode(bad, "t")


def test_json_refuses_null_value() -> None:
    with pytest.raises(RecordDecodeError, match="no value"):
        JsonDecoder().decode(None, "t")


def test_raw_is_untouched() -> None:
    assert RawDecoder().decode(b"\x00\xff", "t") == b"\x00\xff"
    assert RawDecoder().decode(None, "t") == b""


def test_avro_inline_schema_decodes_to_json() -> None:
    dec = AvroDecoder(load_avro_schema(json.dumps(SCHEMA), None))
    out = json.loads(dec.decode(avro_body({"id": "o1", "qty": 3, "blob": b"\x01"}), "t"))
    assert out == {"id": "o1", "qty": 3, "blob": "AQ=="}


def test_avro_schema_file(tmp_path: Path) -> None:
    f = tmp_path / "order.avsc"
    f.write_text(json.dumps(SCHEMA))
    dec = decoder_for("avro", avro_schema_file=str(f))
    assert json.loads(dec.decode(avro_body({"id": "x", "qty": 1, "blob": b""}), "t"))["id"] == "x"


@pytest.mark.parametrize("bad", [b"", b"\xff\xff\xff\xff\xff\xff\xff", b"\x02a"])
def test_avro_refuses_garbage(bad: bytes) -> None:
    dec = AvroDecoder(load_avro_schema(SCHEMA and json.dumps(SCHEMA), None))
    with pytest.raises(RecordDecodeError, match="not valid Avro"):
        dec.decode(bad, "t")


def test_avro_refuses_trailing_bytes() -> None:
    dec = AvroDecoder(load_avro_schema(json.dumps(SCHEMA), None))
    with pytest.raises(RecordDecodeError, match="trailing"):
        dec.decode(avro_body({"id": "o", "qty": 1, "blob": b""}) + b"junk", "t")


def test_bad_schemas_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        load_avro_schema(None, None)
    with pytest.raises(ValueError, match="not found"):
        load_avro_schema(None, str(tmp_path / "missing.avsc"))
    with pytest.raises(ValueError, match="invalid Avro schema"):
        load_avro_schema('{"type": "record"}', None)
    with pytest.raises(ValueError, match="invalid Avro schema"):
        load_avro_schema("{not json", None)


def test_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown format"):
        decoder_for("xml")


# -------------------------------------------------------------- schema-registry wire format


class _Registry(BaseHTTPRequestHandler):
    """Answers ``GET /schemas/ids/7`` as a Confluent schema registry does; 404 otherwise."""

    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        _Registry.requests.append(self.path)
        if self.path.split("?")[0] == "/schemas/ids/7":
            body = json.dumps({"schema": json.dumps(SCHEMA), "schemaType": "AVRO"}).encode()
            self.send_response(200)
        else:
            body = json.dumps({"error_code": 40403, "message": "Schema not found"}).encode()
            self.send_response(404)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture
def registry_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Registry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def wire(schema_id: int, body: bytes) -> bytes:
    return b"\x00" + struct.pack(">I", schema_id) + body


def test_schema_registry_wire_format_fetches_the_schema_by_id(registry_url: str) -> None:
    dec = SchemaRegistryAvroDecoder(registry_url)
    value = wire(7, avro_body({"id": "o9", "qty": 2, "blob": b""}))
    assert json.loads(dec.decode(value, "orders")) == {"id": "o9", "qty": 2, "blob": ""}
    assert json.loads(dec.decode(value, "orders"))["id"] == "o9"
    assert any(p.startswith("/schemas/ids/7") for p in _Registry.requests)


def test_schema_registry_errors_are_decode_errors(registry_url: str) -> None:
    dec = decoder_for("avro", schema_registry_url=registry_url)
    with pytest.raises(RecordDecodeError, match="wire format"):
        dec.decode(b'{"json": 1}', "orders")
    with pytest.raises(RecordDecodeError, match="schema-registry Avro decoding failed"):
        dec.decode(wire(8, b"\x02"), "orders")  # unknown schema id
    with pytest.raises(RecordDecodeError, match="schema-registry Avro decoding failed"):
        dec.decode(wire(7, b"\xff\xff\xff\xff\xff\xff"), "orders")  # bad body
