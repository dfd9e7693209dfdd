"""The web UI's files: served by the admin app, shipped as package data, linked correctly."""

from __future__ import annotations

import glob
import re
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from runtime.admin.app import create_admin_app
from tests.unit.admin.fakes import InMemoryAdminBackend, sample_registry

REPO = Path(__file__).resolve().parents[3]
RUNTIME = REPO / "runtime"
STATIC = RUNTIME / "admin" / "ui" / "static"


def _files() -> list[str]:
    return sorted(str(p.relative_to(RUNTIME)) for p in STATIC.rglob("*") if p.is_file())


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_admin_app(sample_registry(), InMemoryAdminBackend())
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://admin") as c:
        yield c


def test_every_ui_file_is_package_data() -> None:
    """A file the globs of pyproject.toml miss would be absent from the wheel."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["runtime"]
    shipped = {f for p in patterns for f in glob.glob(p, root_dir=RUNTIME)}
    assert _files() and set(_files()) <= shipped, set(_files()) - shipped


async def test_the_ui_is_served_at_ui(client: httpx.AsyncClient) -> None:
    r = await client.get("/ui/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="js/app.js">' in r.text
    js = await client.get("/ui/js/app.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert js.headers["cache-control"] == "no-cache" and js.headers["etag"]
    assert (await client.get("/ui/style.css")).status_code == 200
    root = await client.get("/")
    assert root.status_code == 307 and root.headers["location"] == "/ui/"
    bare = await client.get("/ui")
    assert bare.status_code in (307, 308) and bare.headers["location"].endswith("/ui/")
    missing = await client.get("/ui/nothing.js")
    assert missing.status_code == 404 and "message" in missing.json()


def test_every_module_import_resolves() -> None:
    """Relative imports of the ES modules name files that exist (no bundler checks it)."""
    for path in (STATIC / "js").rglob("*.js"):
        for target in re.findall(r'^import .* from "(\.[^"]+)";$', path.read_text(), re.M):
            assert (path.parent / target).resolve().is_file(), f"{path.name}: {target}"


def test_nothing_is_loaded_from_elsewhere() -> None:
    """Offline: no URL of another host in the UI's files."""
    for path in STATIC.rglob("*"):
        if path.is_file():
            assert not re.search(r"https?://", path.read_text()), path.name
