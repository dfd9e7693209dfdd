"""Golden tests of the partition machine: a checked-in record log in, ops and effects out.

Each ``golden/*.json`` holds steps (batches of records, a take-over, a speculation
offer, an attempt start) and, beside each, what the machine must produce for it
(see ``golden_harness.py`` for the format). After a deliberate change of behaviour,
regenerate the expectations and review the diff line by line, as code:

    RT_GOLDEN_UPDATE=1 .venv/bin/pytest -q tests/unit/partition/test_golden.py

The expectations are what the tests hold the machine to, not a snapshot to bless.
"""

from __future__ import annotations

import json
import os
import typing
from pathlib import Path

import pytest

from runtime.log import records
from tests.unit.partition.golden_harness import GOLDEN_DIR, dumps, run_file

GOLDEN_FILES = sorted(GOLDEN_DIR.glob("*.json"))
UPDATE = os.environ.get("RT_GOLDEN_UPDATE") == "1"


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=[p.stem for p in GOLDEN_FILES])
async def test_golden(path: Path) -> None:
    golden, outputs = await run_file(path)
    if UPDATE:
        for step, out in zip(golden["steps"], outputs, strict=True):
            step["expect"] = out
        path.write_text(dumps(golden) + "\n")
        return
    for i, (step, out) in enumerate(zip(golden["steps"], outputs, strict=True)):
        assert out == step.get("expect"), f"{path.name} step {i}: {json.dumps(out, indent=1)}"


def test_every_record_kind_has_a_golden_log() -> None:
    tags = {t.__struct_config__.tag for t in typing.get_args(records.Record)}
    seen = set()
    for path in GOLDEN_FILES:
        for step in json.loads(path.read_text())["steps"]:
            seen.update(r.get("type") for r in step.get("batch", ()))
    assert tags <= seen, f"no golden log has {sorted(tags - seen)}"
