"""The import layers of sdk/, runtime/ and connectors/ (docs/architecture.md, ADR 0016).

Every ``.py`` file is parsed with ``ast`` (nothing is imported), so every import counts:
at module level, inside functions (lazy) and under ``if TYPE_CHECKING:``. The rules:

1. The SDK never imports the runtime (or the connectors).
2. ``sdk.ids`` (with ``sdk._ids`` behind it) is a leaf: the standard library only.
3. The runtime and the connectors enter the SDK through ``sdk.engine`` and ``sdk.ids`` (and
   ``sdk.protocol``, the service protocol's codec both sides share, ADR 0021); a
   composition root and the app loader may also import the user-facing SDK modules.
   Nothing outside the SDK imports a private ``sdk._*`` module.
4. The connectors never import the runtime.
5. Inside the runtime, one way only:
   ``log`` ← ``state``/``registry`` ← ``partition``/``responses`` ←
   ``invoker``/``timers``/``subscriptions``/``egress`` ← ``ingress``/``admin`` ← roots.
   ``log`` (the bottom) imports none of the rest but settings-free helpers; helpers import
   helpers only; a component never imports a composition root; a root imports only the
   roots it starts.
6. Outside ``partition`` only the roots import its I/O shell (``processor``, ``worker``):
   features reach it through the interfaces it defines.
7. No import cycle between two units (a runtime package or top-level module).

``KNOWN_VIOLATIONS`` lists today's exceptions, each with the change that removes it; an
entry that no longer matches a violation fails the test, so the list only shrinks.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("sdk", "runtime", "connectors")

LAYERS: dict[str, int] = {
    "runtime.log": 0,
    "runtime.state": 1,
    "runtime.registry": 1,
    "runtime.protocol": 1,
    "runtime.partition": 2,
    "runtime.responses": 2,
    "runtime.invoker": 3,
    "runtime.timers": 3,
    "runtime.subscriptions": 3,
    "runtime.egress": 3,
    "runtime.ingress": 4,
    "runtime.admin": 4,
}
LAYER_NAMES = {0: "log", 1: "state", 2: "partition", 3: "features", 4: "ingress/admin"}
ROOTS: dict[str, frozenset[str]] = {
    # root -> the roots it may import (the ones it starts)
    "runtime.cli": frozenset({"runtime.clicmds", "runtime.dev"}),
    "runtime.clicmds": frozenset(),
    "runtime.dev": frozenset({"runtime.node", "runtime.ingress.process"}),
    "runtime.node": frozenset(),
    "runtime.ingress.process": frozenset(),
}
HELPERS = frozenset(
    {
        "runtime",
        "runtime.settings",
        "runtime.logs",
        "runtime.metrics",
        "runtime.trace_context",
        "runtime.tracing",
        "runtime.version",
        "runtime.childproc",
        "runtime.serving",
        "runtime.devstack",
    }
)
SETTINGS_FREE_HELPERS = frozenset(
    {
        "runtime.logs",
        "runtime.metrics",
        "runtime.trace_context",
        "runtime.tracing",
        "runtime.version",
    }
)
SDK_SEAMS = frozenset({"sdk.engine", "sdk.ids", "sdk.protocol"})
APP_LOADER = "runtime.invoker.loader"
PARTITION_SHELL = frozenset({"runtime.partition.processor", "runtime.partition.worker"})


KNOWN_VIOLATIONS: dict[tuple[str, str], str] = {
    # (file, imported module): why it is still here and which change removes it.
    # Empty: every import of sdk/, runtime/ and connectors/ keeps the rules. A new entry
    # needs a reason that holds up in review; the list must not grow back.
}


@dataclass(frozen=True)
class Import:
    """One imported module, as written in one file."""

    file: str
    line: int
    source: str
    target: str
    how: str
    """``""`` (module level), ``"lazy"`` (in a function) or ``"TYPE_CHECKING"``."""

    def where(self) -> str:
        how = f" ({self.how})" if self.how else ""
        return f"{self.file}:{self.line}: {self.source} imports {self.target}{how}"


@dataclass(frozen=True)
class Violation:
    imp: Import
    rule: str

    def __str__(self) -> str:
        return f"{self.imp.where()}: {self.rule}"


def module_files() -> dict[str, Path]:
    """Every module of the three packages by dotted name (a package by its own name)."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, how: str) -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, how
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.body:
                yield from _walk_stmt(stmt, "TYPE_CHECKING")
            for stmt in child.orelse:
                yield from _walk_stmt(stmt, how)
        elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield from _walk(child, how or "lazy")
        else:
            yield from _walk(child, how)


def _walk_stmt(stmt: ast.stmt, how: str) -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
    if isinstance(stmt, ast.Import | ast.ImportFrom):
        yield stmt, how
    else:
        yield from _walk(stmt, how)


def _resolve(module: str, modules: dict[str, Path]) -> str:
    """The deepest module of ours that ``module`` names (``a.b.Name`` → ``a.b``)."""
    while module not in modules and "." in module:
        module = module.rsplit(".", 1)[0]
    return module


def _targets(
    node: ast.Import | ast.ImportFrom, source: str, is_package: bool, modules: dict[str, Path]
) -> Iterator[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name
        return
    base = node.module or ""
    if node.level:
        anchor = source.split(".")
        if not is_package:
            anchor.pop()
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        yield sub if sub in modules else base


def collect_imports() -> list[Import]:
    """Every import of one of our modules, in every file of the three packages."""
    modules = module_files()
    found: list[Import] = []
    for source, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        is_package = path.name == "__init__.py"
        rel = str(path.relative_to(REPO))
        for node, how in _walk(tree, ""):
            for target in _targets(node, source, is_package, modules):
                if target.split(".")[0] in PACKAGES:
                    found.append(Import(rel, node.lineno, source, _resolve(target, modules), how))
    return found


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def unit_of(module: str) -> str:
    """The package or top-level module a module belongs to, for the layer rules."""
    top = module.split(".")[0]
    if top != "runtime":
        return top
    named = [*ROOTS, *LAYERS, *HELPERS]
    matches = [u for u in named if _within(module, u) and u != "runtime"]
    if matches:
        return max(matches, key=len)
    return "runtime" if module == "runtime" else "?"


def _is_private_sdk(module: str) -> bool:
    return _within(module, "sdk") and any(p.startswith("_") for p in module.split(".")[1:])


def _rule(imp: Import) -> str | None:
    """The rule ``imp`` breaks, or None."""
    src, dst = imp.source, imp.target
    src_unit, dst_unit = unit_of(src), unit_of(dst)
    if src_unit == "sdk":
        if dst_unit != "sdk":
            return "the SDK never imports the runtime (ADR 0016)"
        if src in ("sdk.ids", "sdk._ids") and dst not in ("sdk.ids", "sdk._ids"):
            return "sdk.ids is a leaf: both sides import it, it imports nothing of theirs"
        return None
    if dst_unit == "sdk":
        if dst in SDK_SEAMS:
            return None
        if _is_private_sdk(dst):
            return (
                "private SDK module: the runtime enters the SDK through "
                "sdk.engine/sdk.ids/sdk.protocol"
            )
        if src_unit in ROOTS or src == APP_LOADER:
            return None  # loading the user's app takes the user's API
        return "the runtime enters the SDK through sdk.engine, sdk.ids and sdk.protocol only"
    if src_unit == "connectors":
        return "the connectors never import the runtime" if dst_unit != "connectors" else None
    if src_unit == dst_unit or dst_unit == "connectors":
        return None
    if dst in PARTITION_SHELL and src_unit not in ROOTS:
        return (
            "only composition roots import the partition's I/O shell; "
            "use an interface that runtime/partition defines"
        )
    if dst_unit in ROOTS:
        if src_unit not in ROOTS:
            return f"a component never imports a composition root ({dst_unit})"
        if dst_unit not in ROOTS[src_unit]:
            return f"{src_unit} is a composition root of its own: it does not import {dst_unit}"
        return None
    if src_unit == "runtime.log":
        if dst_unit not in SETTINGS_FREE_HELPERS:
            return "runtime/log is the bottom layer: it imports no other part of the runtime"
        return None
    if src_unit in HELPERS:
        return None if dst_unit in HELPERS else "a helper imports helpers only"
    if src_unit in ROOTS or dst_unit in HELPERS:
        return None
    if src_unit in LAYERS and dst_unit in LAYERS:
        if LAYERS[dst_unit] <= LAYERS[src_unit]:
            return None
        return (
            f"layer {LAYER_NAMES[LAYERS[src_unit]]} ({src_unit}) may not import the higher "
            f"layer {LAYER_NAMES[LAYERS[dst_unit]]} ({dst_unit})"
            + (
                ": the partition reaches features through interfaces it defines"
                if src_unit == "runtime.partition"
                else ""
            )
        )
    return f"{src_unit} or {dst_unit} has no layer: add it to tests/unit/test_layers.py"


def _cycles(imports: Iterable[Import]) -> list[Violation]:
    """Imports between runtime units that lie on an import cycle (Tarjan's SCCs)."""
    edges: dict[str, set[str]] = defaultdict(set)
    by_edge: dict[tuple[str, str], list[Import]] = defaultdict(list)
    for imp in imports:
        a, b = unit_of(imp.source), unit_of(imp.target)
        if a != b and a.startswith("runtime") and b.startswith("runtime"):
            edges[a].add(b)
            by_edge[a, b].append(imp)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            components.append(component)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    found = []
    for component in components:
        if len(component) < 2:
            continue
        loop = " <-> ".join(sorted(component))
        for (a, b), imps in sorted(by_edge.items()):
            if a in component and b in component:
                found += [Violation(i, f"import cycle {loop}") for i in imps]
    return found


def violations(imports: list[Import], allowed: Iterable[tuple[str, str]]) -> list[Violation]:
    """Every rule broken by an import not in ``allowed`` (``(file, module)`` pairs)."""
    allowed = set(allowed)
    kept = [i for i in imports if (i.file, i.target) not in allowed]
    found = [Violation(i, rule) for i in kept if (rule := _rule(i)) is not None]
    return found + _cycles(kept)


# ---------------------------------------------------------------------------------- tests


def test_no_forbidden_import() -> None:
    found = violations(collect_imports(), KNOWN_VIOLATIONS)
    assert not found, "forbidden imports (docs/architecture.md, ADR 0016):\n" + "\n".join(
        sorted({str(v) for v in found})
    )


def stale_entries(imports: list[Import], known: Iterable[tuple[str, str]]) -> list[str]:
    """Allowed ``(file, module)`` pairs that are gone or no longer break a rule."""
    known = set(known)
    stale = []
    for entry in sorted(known):
        without = violations(imports, known - {entry})
        if not any((v.imp.file, v.imp.target) == entry for v in without):
            stale.append(f"{entry[0]} -> {entry[1]}")
    return stale


def test_every_known_violation_is_still_one() -> None:
    """An allowed import that is gone or no longer breaks a rule must leave the list."""
    stale = stale_entries(collect_imports(), KNOWN_VIOLATIONS)
    assert not stale, "remove from KNOWN_VIOLATIONS (fixed):\n" + "\n".join(stale)


def test_every_runtime_module_has_a_layer() -> None:
    missing = [m for m in module_files() if m.startswith("runtime") and unit_of(m) == "?"]
    assert not missing, f"give these a layer in tests/unit/test_layers.py: {missing}"


def test_importing_the_sdk_loads_no_runtime_module() -> None:
    """The same rule at run time (it also sees imports by name, e.g. importlib)."""
    public = sorted(m for m in module_files() if m.startswith("sdk") and not _is_private_sdk(m))
    code = (
        f"import sys\nfor m in {public!r}: __import__(m)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('runtime', 'connectors')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout


# ------------------------------------------------------------------ the checker checks itself


def _imp(source: str, target: str, how: str = "") -> Import:
    return Import(source.replace(".", "/") + ".py", 1, source, target, how)


def test_the_rules_catch_each_kind_of_forbidden_import() -> None:
    cases = {
        ("sdk.testing", "runtime.dev", "lazy"): "never imports the runtime",
        ("sdk.testing", "runtime.devstack.stack", "TYPE_CHECKING"): "never imports the runtime",
        ("sdk.ids", "sdk._engine", ""): "leaf",
        ("runtime.ingress.app", "sdk._app", ""): "private SDK module",
        (
            "runtime.ingress.app",
            "sdk.kafka",
            "",
        ): "through sdk.engine, sdk.ids and sdk.protocol only",
        ("connectors.serde", "runtime.log.records", ""): "connectors never import",
        ("runtime.log.routing", "runtime.registry", ""): "bottom layer",
        ("runtime.log.producer", "runtime.settings", ""): "bottom layer",
        ("runtime.state.store", "runtime.partition.status", ""): "higher layer",
        ("runtime.partition.processor", "runtime.timers.wheel", ""): "through interfaces",
        ("runtime.invoker.inprocess", "runtime.partition.processor", "TYPE_CHECKING"): "shell",
        ("runtime.ingress.process", "runtime.cli", "lazy"): "composition root of its own",
        ("runtime.ingress.process", "runtime.dev", "lazy"): "composition root of its own",
        ("runtime.timers.wheel", "runtime.node", ""): "never imports a composition root",
        ("runtime.settings", "runtime.state.store", ""): "helpers only",
    }
    for (source, target, how), rule in cases.items():
        found = violations([_imp(source, target, how)], ())
        assert found and rule in found[0].rule, (source, target, found)


def test_the_rules_allow_the_ways_down() -> None:
    fine = [
        ("runtime.cli", "runtime.dev"),
        ("runtime.dev", "runtime.node"),
        ("runtime.dev", "runtime.ingress.process"),
        ("runtime.node", "sdk.kafka"),
        ("runtime.invoker.loader", "sdk"),
        ("runtime.ingress.app", "sdk.engine"),
        ("runtime.log.producer", "sdk.ids"),
        ("runtime.admin.cron", "runtime.partition.cron"),
        ("runtime.subscriptions.intake", "connectors.serde"),
        ("runtime.state.store", "runtime.settings"),
        ("runtime.log.producer", "runtime.logs"),
        ("sdk.engine", "sdk._journal"),
        ("runtime.protocol.attempt", "sdk.protocol"),
        ("sdk.protocol", "sdk._protocol.translate"),
    ]
    assert violations([_imp(s, t) for s, t in fine], ()) == []


def test_a_loop_between_units_is_caught() -> None:
    loop = [_imp("runtime.responses", "runtime.partition.status")]
    loop.append(_imp("runtime.partition.processor", "runtime.responses"))
    assert {v.imp.source for v in violations(loop, ())} == {
        "runtime.responses",
        "runtime.partition.processor",
    }


def test_a_fixed_or_missing_exception_is_stale() -> None:
    imports = [_imp("runtime.log.routing", "runtime.registry"), _imp("runtime.node", "sdk")]
    known = {
        ("runtime/log/routing.py", "runtime.registry"),  # still a violation: kept
        ("runtime/node.py", "sdk"),  # allowed anyway: stale
        ("runtime/gone.py", "sdk._ids"),  # no such import: stale
    }
    assert stale_entries(imports, known) == [
        "runtime/gone.py -> sdk._ids",
        "runtime/node.py -> sdk",
    ]


def test_lazy_and_type_checking_imports_are_seen() -> None:
    tree = ast.parse(
        "import runtime.log\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from runtime.node import Node\n"
        "def f():\n    from runtime.cli import app\n"
    )
    hows = {(n.lineno, how) for n, how in _walk(tree, "")}
    assert {(1, ""), (4, "TYPE_CHECKING"), (6, "lazy")} <= hows
