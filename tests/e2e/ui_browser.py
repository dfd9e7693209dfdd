"""Headless Chromium for the web UI tests: Debian's system browser driven by Playwright.

Playwright never downloads a browser here: it launches ``/usr/bin/chromium`` (installed
by ``scripts/setup.sh``). Screenshots go to ``build/ui-screenshots/`` (git-ignored) unless
``RT_UI_SCREENSHOTS`` names another directory; ``RT_UI_SCREENSHOTS=docs/ui`` refreshes
the ones the docs show.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1360, "height": 860}


def screenshot_dir() -> Path:
    """Where the test run saves its screenshots (created on demand)."""
    configured = os.environ.get("RT_UI_SCREENSHOTS")
    path = Path(configured) if configured else REPO / "build" / "ui-screenshots"
    if not path.is_absolute():
        path = REPO / path
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def chromium() -> Iterator[Browser]:
    """The system Chromium, headless, with a fresh profile (Playwright makes one per launch).

    Raises:
        RuntimeError: When Chromium is not installed (run ./scripts/setup.sh); never skips.
    """
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} not found: run ./scripts/setup.sh (apt chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def shoot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save a screenshot of the page as ``<name>.png`` (by default the whole page, not just
    the viewport; a modal dialog is shot in the viewport, where its backdrop is)."""
    path = screenshot_dir() / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
