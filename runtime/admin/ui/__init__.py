"""The web UI: static HTML, CSS and ES modules served by the admin API at ``/ui/``.

The pages are a client of the public admin API (JSON over ``fetch``), nothing
private: whatever the UI shows, a script can read from the same endpoints. The
files ship as package data (``static/``), so the UI works offline, with no
build step and nothing fetched at run time. ``docs/ui.md`` describes the pages.

Owns the files and where they are mounted; imports nothing of the runtime.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

__all__ = ["UI_PATH", "ui_files"]

UI_PATH = "/ui"
"""Where the admin app mounts the UI."""


class _RevalidatedFiles(StaticFiles):
    """Static files a browser revalidates before each use (``no-cache``; the ETag makes
    that cheap), so an upgraded rt never runs next to modules cached from the old one."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["cache-control"] = "no-cache"
        return response


def ui_files() -> StaticFiles:
    """The UI's static files as an ASGI app (``index.html`` for a directory).

    Returns:
        The app to mount at :data:`UI_PATH`.
    """
    return _RevalidatedFiles(packages=[("runtime.admin.ui", "static")], html=True)
