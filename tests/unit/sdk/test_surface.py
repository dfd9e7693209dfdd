"""rt's ``sdk`` against restate-sdk's public surface (committed snapshots, no network).

``scripts/sdk_surface.py`` lists a package's public modules, names, methods and parameters
(name, kind, default) with ``inspect``; the snapshots in ``surface/`` were made from the
real restate-sdk 1.2.0 and 1.3.0 (each file says how to make it again). Every gap of
``sdk`` against them must be one of the deliberate gaps below, each documented in
``docs/compatibility.md`` under its title; a gap closed must leave this list too.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
SNAPSHOTS = sorted((Path(__file__).parent / "surface").glob("restate_sdk_*.json"))
DOC = (ROOT / "docs" / "compatibility.md").read_text()

_MODULES = (
    "asyncio|aws_lambda|client|client_types|connection|context_managers|discovery|endpoint"
    "|entry_codec|ext|ext\\.[a-z_]+|extensions|handler|harness|logging|object|retry_policy"
    "|server|server_context|server_types|service|types|vm|workflow"
)
_CONTEXTS = (
    "(context\\.)?(Context|ObjectContext|ObjectSharedContext|WorkflowContext|WorkflowSharedContext)"
)

DELIBERATE: dict[str, str] = {
    # title in docs/compatibility.md -> the gaps it covers (a regular expression)
    "restate-sdk's own modules": f"restate\\.({_MODULES}): module missing",
    "Scopes and limit keys": (
        f"restate\\.{_CONTEXTS}\\.(scope: missing|generic_(call|send): parameter "
        "'(scope|limit_key)' missing)|restate\\.(context\\.)?ScopedContext: missing"
    ),
    "State preloading": (
        "restate\\.(VirtualObject|Workflow)\\.(__init__|handler|main): parameter "
        "'state_preload' missing"
    ),
    "Journal value codecs": (
        "restate\\.app: parameter 'journal_value_codec' missing"
        "|restate\\.JournalValueCodec(Provider)?: missing"
    ),
    "Ingress clients": (
        "restate\\.(connect|with_connection|ConnectError|RestateClient|RestateClientSendHandle"
        "|create_client|HttpError): missing"
    ),
    "Test harness": "restate\\.(create_test_harness|test_harness|HarnessEnvironment): missing",
    "Logging module": "restate\\.(logging|RestateLoggingFilter): missing",
    "Serde helpers": (
        "restate\\.serde\\.(DaciteFromDict|DaciteToDict|Msgspec|MsgspecJsonAPI|PydanticBaseModel"
        "|is_pydantic|try_import_from_dacite|try_import_msgspec_api"
        "|try_import_pydantic_base_model): missing"
    ),
    "KeyValueStore": "restate\\.context\\.KeyValueStore: missing",
}


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sdk_surface", ROOT / "scripts/sdk_surface.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("sdk_surface", module)
    spec.loader.exec_module(module)
    return module


SURFACE = _script()
OURS: dict[str, Any] = SURFACE.surface("sdk")


def _gaps(path: Path) -> list[str]:
    theirs = json.loads(path.read_text())
    gaps: list[str] = SURFACE.compare(theirs, OURS)
    return gaps


def test_the_snapshots_are_of_restate_sdk_and_say_how_they_were_made() -> None:
    assert [p.name for p in SNAPSHOTS] == ["restate_sdk_1.2.0.json", "restate_sdk_1.3.0.json"]
    for path in SNAPSHOTS:
        snap = json.loads(path.read_text())
        assert snap["package"] == "restate" and snap["distribution"] == "restate-sdk"
        assert f"restate-sdk=={snap['version']}" in snap["regenerate"]
        assert path.name in snap["regenerate"]


@pytest.mark.parametrize("path", SNAPSHOTS, ids=[p.stem for p in SNAPSHOTS])
def test_every_gap_is_a_documented_deliberate_one(path: Path) -> None:
    unexplained = [
        gap
        for gap in _gaps(path)
        if sum(bool(re.fullmatch(rx, gap)) for rx in DELIBERATE.values()) != 1
    ]
    assert unexplained == [], "\n".join(unexplained)


def test_every_deliberate_gap_is_still_a_gap_and_documented() -> None:
    gaps = {gap for path in SNAPSHOTS for gap in _gaps(path)}
    for title, rx in DELIBERATE.items():
        assert any(re.fullmatch(rx, gap) for gap in gaps), f"closed, remove it: {title}"
        assert f"### {title}" in DOC, f"docs/compatibility.md does not explain: {title}"


def test_the_signal_api_matches_restate_sdk() -> None:
    """Named signals: same names, parameter kinds and defaults on every context."""
    snap = json.loads(SNAPSHOTS[-1].read_text())
    for cls in ("Context", "ObjectContext", "ObjectSharedContext", "WorkflowContext"):
        for method in ("signal", "resolve_signal", "reject_signal"):
            theirs = snap["modules"]["restate"][cls]["members"][method]["params"]
            ours = OURS["modules"]["sdk"][cls]["members"][method]["params"]
            assert [p[:2] for p in ours] == [p[:2] for p in theirs], (cls, method)


def test_a_missing_method_or_parameter_is_reported() -> None:
    """The check can fail: take ``signal`` away and change a default, and it says so."""
    theirs = json.loads(SNAPSHOTS[-1].read_text())
    ours = json.loads(json.dumps(OURS))
    members = ours["modules"]["sdk"]["Context"]["members"]
    del members["signal"]
    reject = members["reject_signal"]["params"]
    reject[-1] = [reject[-1][0], reject[-1][1], "400"]
    gaps = SURFACE.compare(theirs, ours)
    assert "restate.Context.signal: missing" in gaps
    assert (
        "restate.Context.reject_signal: parameter 'failure_code' defaults to 400, not 500" in gaps
    )
