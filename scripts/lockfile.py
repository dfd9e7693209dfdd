"""requirements.lock and pyproject.toml: the fingerprint that ties them, and the check.

``python scripts/lockfile.py finish SRC DST`` (run by ``scripts/lock.sh``) writes the
lock pip-compile produced without rt's own line and with the fingerprint of
pyproject.toml's requirements; ``python scripts/lockfile.py check`` exits non-zero
when the lock no longer matches pyproject.toml (``tests/unit/test_lockfile.py``).
Standard library only: it runs before the venv exists.
"""

from __future__ import annotations

import hashlib
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FINGERPRINT = "# pyproject-fingerprint: "
_SELF = "rt-runtime"


def requirements_of(pyproject: Path) -> list[str]:
    """Every requirement pyproject.toml names (runtime, extras, build), rt itself excepted."""
    data = tomllib.loads(pyproject.read_text())
    reqs = list(data["project"].get("dependencies", []))
    for extra in data["project"].get("optional-dependencies", {}).values():
        reqs.extend(extra)
    reqs.extend(data.get("build-system", {}).get("requires", []))
    return sorted(r for r in reqs if _name(r) != _SELF)


def fingerprint(reqs: list[str]) -> str:
    return hashlib.sha256("\n".join(reqs).encode()).hexdigest()[:16]


def pins_of(lock_text: str) -> dict[str, str]:
    """``{normalised name: version}`` of every ``name==version`` line of a lock."""
    pins = {}
    for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)", lock_text, re.MULTILINE):
        pins[_normalise(m.group(1))] = m.group(2)
    return pins


def check(lock: Path, pyproject: Path) -> list[str]:
    """What is wrong with ``lock`` for ``pyproject`` (empty when it matches)."""
    if not lock.exists():
        return [f"{lock.name} is missing: run scripts/lock.sh"]
    text = lock.read_text()
    problems = []
    want = fingerprint(requirements_of(pyproject))
    m = re.search("^" + re.escape(FINGERPRINT) + r"(\w+)$", text, re.MULTILINE)
    if m is None or m.group(1) != want:
        problems.append(
            f"{lock.name} was made for other requirements than pyproject.toml's: "
            "run scripts/lock.sh"
        )
    pins = pins_of(text)
    for req in requirements_of(pyproject):
        if _normalise(_name(req)) not in pins:
            problems.append(f"{req!r} has no pin in {lock.name}: run scripts/lock.sh")
    if "file://" in text or "@ /" in text:
        problems.append(f"{lock.name} names a local path: run scripts/lock.sh")
    return problems


def finish(src: Path, dst: Path, pyproject: Path = ROOT / "pyproject.toml") -> None:
    """Write pip-compile's output ``src`` to ``dst`` without rt's own entry, fingerprinted."""
    out: list[str] = []
    lines = src.read_text().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("# WARNING: pip install will require") or line.startswith(
            "# Consider using a hashable URL"
        ):
            i += 1
            continue
        if line.startswith(f"{_SELF} @ "):
            i += 1
            while i < len(lines) and lines[i].startswith("    "):
                i += 1
            continue
        out.append(line)
        i += 1
    header_end = next(n for n, line in enumerate(out) if not line.startswith("#"))
    out.insert(header_end, FINGERPRINT + fingerprint(requirements_of(pyproject)))
    text = "\n".join(out) + "\n"
    text = re.sub(r"--output-file=\S+", "--output-file=requirements.lock", text)
    text = re.sub(r" \S*/pyproject\.toml", " pyproject.toml", text)
    dst.write_text(text)


def _name(req: str) -> str:
    return re.split(r"[\s\[<>=!~;@]", req.strip(), maxsplit=1)[0]


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


if __name__ == "__main__":
    if sys.argv[1:2] == ["finish"] and len(sys.argv) == 4:
        finish(Path(sys.argv[2]), Path(sys.argv[3]))
    elif sys.argv[1:] == ["check"]:
        found = check(ROOT / "requirements.lock", ROOT / "pyproject.toml")
        print("\n".join(found) or "requirements.lock matches pyproject.toml")
        sys.exit(1 if found else 0)
    else:
        sys.exit("usage: lockfile.py finish SRC DST | lockfile.py check")
