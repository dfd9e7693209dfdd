"""Load the user's app files for the in-process invoker (``rt dev app.py``)."""

from __future__ import annotations

import importlib.util
import sys
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

from runtime.invoker.builtins import check_names


class AppLoadError(RuntimeError):
    """The given file cannot be imported or defines no services."""


def import_file(path: Path) -> ModuleType:
    """Import a Python file as a fresh module, with its directory on sys.path."""
    path = path.resolve()
    if not path.is_file():
        raise AppLoadError(f"app file not found: {path}")
    if path.suffix != ".py":
        raise AppLoadError(f"app file must be a .py file: {path}")
    name = f"rt_app_{path.stem}_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise AppLoadError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    parent = str(path.parent)
    if parent not in sys.path:
        sys.path.insert(0, parent)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        del sys.modules[name]
        raise AppLoadError(f"importing {path} failed: {type(e).__name__}: {e}") from e
    return module


def service_definitions(module: ModuleType) -> list[Any]:
    """The services a module serves: those of its ``app`` if it has one, else module-level ones."""
    import sdk

    app = getattr(module, "app", None)
    if app is not None and hasattr(app, "services"):
        services = app.services
        return list(services.values()) if isinstance(services, dict) else list(services)
    kinds = (sdk.Service, sdk.VirtualObject, sdk.Workflow)
    return [v for v in vars(module).values() if isinstance(v, kinds)]


def load_services(paths: list[Path]) -> list[Any]:
    """Import every file and return all their service definitions; names must be unique."""
    found: dict[str, Any] = {}
    for path in paths:
        module = import_file(path)
        defs = service_definitions(module)
        if not defs:
            raise AppLoadError(
                f"{path} defines no services (no `app` and no Service/VirtualObject/Workflow)"
            )
        for d in defs:
            name = d.name
            if name in found and found[name] is not d:
                raise AppLoadError(f"service {name!r} is defined twice (second time in {path})")
            found[name] = d
    try:
        check_names(found)
    except ValueError as e:
        raise AppLoadError(str(e)) from None
    return list(found.values())
