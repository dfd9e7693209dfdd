"""Read and write golden journal files (``golden/*.json``).

Entries are stored in the journal's wire JSON form (``sdk.engine.journal_to_json``:
payloads base64), one per line, each with a ``_text`` annotation showing its
payload as UTF-8 for reviewers (decoders ignore unknown fields).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from sdk.engine import JournalEntry, journal_from_json

GOLDEN_DIR = Path(__file__).parent / "golden"

_PAYLOAD_FIELDS = ("body", "param", "value")


def _text_of(obj: Any) -> str | None:
    for f in _PAYLOAD_FIELDS:
        if f in obj and isinstance(obj[f], str):
            return _b64text(obj[f])
    result = obj.get("result")
    if isinstance(result, dict):
        if "data" in result:
            return _b64text(result["data"])
        if "message" in result:
            return f"failure {result['code']}: {result['message']}"
    return None


def _b64text(b64: str) -> str:
    import base64

    raw = base64.b64decode(b64)
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return repr(raw)


def entry_to_obj(entry: JournalEntry) -> dict[str, Any]:
    obj: dict[str, Any] = msgspec.to_builtins(entry)
    text = _text_of(obj)
    if text is not None:
        obj["_text"] = text
    return obj


def dump_golden(path: Path, golden: dict[str, Any], journal: list[JournalEntry]) -> None:
    head = json.dumps({k: v for k, v in golden.items() if k != "journal"}, indent=2)
    lines = ",\n".join("    " + json.dumps(entry_to_obj(e)) for e in journal)
    text = head[:-2] + ',\n  "journal": [\n' + lines + "\n  ]\n}\n"
    path.write_text(text)


def load_golden(path: Path) -> tuple[dict[str, Any], list[JournalEntry]]:
    golden = json.loads(path.read_text())
    journal = journal_from_json(json.dumps(golden["journal"]))
    return golden, journal
