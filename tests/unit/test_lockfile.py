"""requirements.lock pins what pyproject.toml asks for (scripts/lock.sh refreshes it)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _lockfile():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("lockfile", ROOT / "scripts" / "lockfile.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_lock_matches_pyproject() -> None:
    lf = _lockfile()
    assert lf.check(ROOT / "requirements.lock", ROOT / "pyproject.toml") == []


def test_a_requirement_added_to_pyproject_fails_the_check(tmp_path: Path) -> None:
    lf = _lockfile()
    text = (ROOT / "pyproject.toml").read_text()
    changed = tmp_path / "pyproject.toml"
    changed.write_text(text.replace('"tenacity>=8.5",', '"tenacity>=8.5",\n  "left-pad>=1",'))
    problems = lf.check(ROOT / "requirements.lock", changed)
    assert any("other requirements" in p for p in problems)
    assert any("left-pad" in p for p in problems)


def test_every_pin_carries_a_hash_and_no_local_path() -> None:
    text = (ROOT / "requirements.lock").read_text()
    blocks = [b for b in text.split("\n") if "==" in b and not b.startswith("#")]
    assert blocks, "the lock pins nothing"
    assert all(b.rstrip().endswith("\\") for b in blocks), "a pin without --hash lines"
    assert "file://" not in text
    assert "rt-runtime" not in _lockfile().pins_of(text)
