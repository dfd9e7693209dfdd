"""The web UI: static HTML, CSS and ES modules served by the admin API at ``/ui/``.

The pages are a client of the public admin API (JSON over ``fetch``), nothing
private: whatever the UI shows, a script can read from the same endpoints. The
files ship as package data (``static/``), so the UI works offline, with no
build step and nothing fetched at run time. ``docs/ui.md`` describes the pages.

Owns the files and where they are mounted; imports nothing of the runtime.
"""

from __future__ import annotations

from starlette.staticfiles import StaticFiles

__all__ = ["UI_PATH", "ui_files"]

UI_PATH = "/ui"
"""Where the admin app mounts the UI."""


def ui_files() -> StaticFiles:
    """The UI's static files as an ASGI app (``index.html`` for a directory).

    Returns:
        The app to mount at :data:`UI_PATH`.
    """
    return StaticFiles(packages=[("runtime.admin.ui", "static")], html=True)
