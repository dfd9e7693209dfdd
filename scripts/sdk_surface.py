"""List a Python SDK's public surface with ``inspect``, and compare rt's ``sdk`` with restate-sdk.

The surface of a package is every public module (no ``_`` in its dotted name), the public
names of each (its ``__all__``, else the names it defines), and for classes and functions
their parameters: name, kind and default. Classes list their public methods, properties
and attributes defined by the package itself (not those inherited from builtins).

Usage::

    # Snapshot restate-sdk's surface (needs the package; run with its interpreter):
    python3 -m venv /tmp/rs && /tmp/rs/bin/pip install restate-sdk==1.3.0
    /tmp/rs/bin/python scripts/sdk_surface.py dump restate --distribution restate-sdk \\
        > tests/unit/sdk/surface/restate_sdk_1.3.0.json

    # Compare rt's sdk with a snapshot (prints one gap per line):
    .venv/bin/python scripts/sdk_surface.py compare tests/unit/sdk/surface/restate_sdk_1.3.0.json

``tests/unit/sdk/test_surface.py`` runs the comparison against the committed snapshots
(restate-sdk 1.2.0 and 1.3.0) and pins the gaps; ``docs/compatibility.md`` says why each
one is there.

Standard library only: it runs in restate-sdk's environment too.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import importlib
import importlib.metadata
import inspect
import json
import pkgutil
import sys
import typing
from types import ModuleType
from typing import Any

Surface = dict[str, Any]
"""``{"package", "version", "modules": {module: {name: entry}}}``."""

REGENERATE = (
    "python3 -m venv /tmp/rs && /tmp/rs/bin/pip install restate-sdk=={version} && "
    "/tmp/rs/bin/python scripts/sdk_surface.py dump restate --distribution restate-sdk "
    "> tests/unit/sdk/surface/restate_sdk_{version}.json"
)
"""How a committed snapshot was made (and is made again)."""


# ---------------------------------------------------------------------------
# Listing.


_SCALARS = (type(None), bool, int, float, str, bytes)


def _default(value: Any) -> str | None:
    """A default's text: scalars and enum members by repr, anything else by its type (reprs
    of instances carry addresses or differ between implementations of the same value)."""
    if value is inspect.Parameter.empty:
        return None
    if isinstance(value, (*_SCALARS, enum.Enum)):
        return repr(value)
    if type(value).__name__ == "_HAS_DEFAULT_FACTORY_CLASS":
        return FACTORY
    return f"<{type(value).__name__}>"


FACTORY = "<factory>"
"""A dataclass field's ``default_factory``: some default, compared only as optional."""
KWARGS = "<kwargs>"
"""An option taken through ``**options: Unpack[SomeTypedDict]``."""


def _unpacked(fn: Any, name: str) -> list[str]:
    """The keys of ``**name: Unpack[TypedDict]`` (empty when not annotated so)."""
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception:
        return []
    hint = hints.get(name)
    if typing.get_origin(hint) is not typing.Unpack:
        return []
    (td,) = typing.get_args(hint)
    return sorted(getattr(td, "__annotations__", {}))


def _params(obj: Any) -> list[list[str | None]] | None:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    out: list[list[str | None]] = []
    for p in sig.parameters.values():
        out.append([p.name, p.kind.name, _default(p.default)])
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            out.extend([k, "KEYWORD_ONLY", KWARGS] for k in _unpacked(obj, p.name))
    return out


def _own(cls: type, name: str, root: str) -> bool:
    """Whether ``name`` is defined on ``cls`` by a class of the package (not by builtins)."""
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return (getattr(klass, "__module__", "") or "").split(".")[0] == root
    return False


def _class(cls: type, root: str) -> dict[str, Any]:
    members: dict[str, Any] = {}
    for name in sorted(dir(cls)):
        if (name.startswith("_") and name != "__init__") or not _own(cls, name, root):
            continue
        raw = inspect.getattr_static(cls, name)
        if isinstance(raw, property):
            members[name] = {"kind": "property"}
        elif isinstance(raw, staticmethod | classmethod) or callable(raw):
            members[name] = {"kind": "method", "params": _params(getattr(cls, name))}
        else:
            members[name] = {"kind": "attribute"}
    if dataclasses.is_dataclass(cls):
        for f in dataclasses.fields(cls):
            if not f.name.startswith("_"):
                members.setdefault(f.name, {"kind": "attribute"})
    return {"kind": "class", "members": members}


def _entry(obj: Any, root: str) -> dict[str, Any]:
    if inspect.ismodule(obj):
        return {"kind": "module"}
    if inspect.isclass(obj):
        return _class(obj, root)
    if callable(obj):
        return {"kind": "function", "params": _params(obj)}
    return {"kind": "other"}


def _public_names(module: ModuleType, root: str) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is not None:
        return list(names)
    out = []
    for name, obj in vars(module).items():
        if name.startswith("_") or isinstance(obj, typing.TypeVar | typing.ParamSpec):
            continue
        if inspect.ismodule(obj) or getattr(obj, "__module__", None) != module.__name__:
            continue  # imported (from typing, the standard library, a sibling module, ...)
        out.append(name)
    return sorted(out)


def public_modules(package: str) -> list[str]:
    """The package and its submodules without a ``_`` segment, importable here."""
    root = importlib.import_module(package)
    names = [package]
    for info in pkgutil.walk_packages(root.__path__, package + ".", onerror=lambda _n: None):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return sorted(names)


def surface(package: str, distribution: str | None = None) -> Surface:
    """The public surface of ``package`` (modules that fail to import are listed empty:
    optional extras whose dependencies are not installed)."""
    modules: dict[str, Any] = {}
    for name in public_modules(package):
        try:
            module = importlib.import_module(name)
        except Exception as e:  # an extra's missing dependency
            modules[name] = {"__unimportable__": {"kind": "other", "error": type(e).__name__}}
            continue
        modules[name] = {
            n: _entry(getattr(module, n), package) for n in _public_names(module, package)
        }
    version = None
    if distribution is not None:
        version = importlib.metadata.version(distribution)
    return {
        "package": package,
        "distribution": distribution,
        "version": version,
        "regenerate": REGENERATE.format(version=version) if version else None,
        "modules": modules,
    }


# ---------------------------------------------------------------------------
# Comparing.


def _counterpart(module: str, theirs: str, ours: str) -> str:
    return ours + module[len(theirs) :]


def _compare_params(
    where: str, theirs: list[list[str | None]] | None, ours: list[list[str | None]] | None
) -> list[str]:
    if theirs is None or ours is None:
        return []
    gaps = []
    mine = {p[0]: p for p in ours if p[1] not in _VARIADIC}
    for name, kind, default in theirs:
        assert name is not None and kind is not None
        if kind in _VARIADIC:
            if not any(p[1] == kind for p in ours):
                gaps.append(f"{where}: takes no {'*' if kind == 'VAR_POSITIONAL' else '**'}{name}")
            continue
        other = mine.get(name)
        if other is None:
            gaps.append(f"{where}: parameter {name!r} missing")
            continue
        if other[2] == KWARGS:  # an option of **options: by keyword, with a default
            if default is None:
                gaps.append(f"{where}: parameter {name!r} is optional")
            continue
        if other[1] != kind:
            gaps.append(f"{where}: parameter {name!r} is {other[1]}, not {kind}")
        if (default is None) != (other[2] is None):
            said = "required" if other[2] is None else "optional"
            gaps.append(f"{where}: parameter {name!r} is {said}")
        elif default != other[2] and FACTORY not in (default, other[2]):
            gaps.append(f"{where}: parameter {name!r} defaults to {other[2]}, not {default}")
    # Positional use: the parameters both take positionally must come in the same order
    # (one rt takes by keyword only is a kind gap above, or an option of **options).
    positional = ("POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD")
    ours_positional = {p[0] for p in ours if p[1] in positional}
    their_order = [p[0] for p in theirs if p[1] in positional and p[0] in ours_positional]
    our_order = [p[0] for p in ours if p[1] in positional and p[0] in set(their_order)]
    if their_order != our_order:
        gaps.append(f"{where}: positional order {our_order}, not {their_order}")
    return gaps


_VARIADIC = ("VAR_POSITIONAL", "VAR_KEYWORD")


def compare(theirs: Surface, ours: Surface) -> list[str]:
    """The gaps of ``ours`` against ``theirs``: what a program written for ``theirs`` could
    use that ``ours`` lacks or takes differently. One line per gap, sorted; a missing
    module is one gap (its names are not listed). Additions of ``ours`` are not gaps."""
    gaps: list[str] = []
    their_root, our_root = theirs["package"], ours["package"]
    for module, names in sorted(theirs["modules"].items()):
        mine = ours["modules"].get(_counterpart(module, their_root, our_root))
        if mine is None:
            gaps.append(f"{module}: module missing")
            continue
        for name, entry in sorted(names.items()):
            where = f"{module}.{name}"
            other = mine.get(name)
            if name == "__unimportable__":
                continue
            if other is None:
                gaps.append(f"{where}: missing")
                continue
            if entry["kind"] != other["kind"] and entry["kind"] != "other":
                gaps.append(f"{where}: is a {other['kind']}, not a {entry['kind']}")
                continue
            if entry["kind"] == "function":
                gaps.extend(_compare_params(where, entry.get("params"), other.get("params")))
            if entry["kind"] == "class":
                members = other.get("members", {})
                for member, spec in sorted(entry["members"].items()):
                    mwhere = f"{where}.{member}"
                    got = members.get(member)
                    if got is None:
                        gaps.append(f"{mwhere}: missing")
                    elif spec["kind"] == "method" and got["kind"] == "method":
                        gaps.extend(_compare_params(mwhere, spec["params"], got["params"]))
    return sorted(gaps)


# ---------------------------------------------------------------------------


def to_json(value: typing.Any, depth: int = 0) -> str:
    """JSON with one key per line and each list on one line (a parameter per line)."""
    if isinstance(value, dict) and value:
        pad = " " * (depth + 1)
        items = [f"{pad}{json.dumps(k)}: {to_json(v, depth + 1)}" for k, v in sorted(value.items())]
        return "{\n" + ",\n".join(items) + "\n" + " " * depth + "}"
    if isinstance(value, list) and any(isinstance(v, list | dict) for v in value):
        pad = " " * (depth + 1)
        return (
            "[\n"
            + ",\n".join(pad + to_json(v, depth + 1) for v in value)
            + "\n"
            + " " * depth
            + "]"
        )
    return json.dumps(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    dump = sub.add_parser("dump", help="print a package's public surface as JSON")
    dump.add_argument("package")
    dump.add_argument("--distribution", help="the distribution whose version to record")
    cmp = sub.add_parser("compare", help="print rt's sdk's gaps against a snapshot")
    cmp.add_argument("snapshot")
    cmp.add_argument("--package", default="sdk")
    args = parser.parse_args(argv)
    if args.command == "dump":
        sys.stdout.write(to_json(surface(args.package, args.distribution)) + "\n")
        return 0
    with open(args.snapshot, encoding="utf-8") as f:
        theirs = json.load(f)
    for gap in compare(theirs, surface(args.package)):
        print(gap)
    return 0


if __name__ == "__main__":
    sys.exit(main())
