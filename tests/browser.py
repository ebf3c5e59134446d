"""Reading pages in tests: their text, images and tables (Page), and Debian's Chromium."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Locator

CHROMIUM = "/usr/bin/chromium"


CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


class Page(HTMLParser):
    """What a reader of the page gets: its text, its images and its table rows."""

    def __init__(self, source: str) -> None:
        super().__init__()
        self.chunks: list[str] = []
        self.images: list[dict[str, str | None]] = []
        self.rows: list[list[str]] = []
        self.external: list[str] = []
        self.check_states: list[str] = []  # "passed" or "failed", one per check card
        self._cell: list[str] | None = None
        self._in_style = False
        self.feed(source)
        self.text = " ".join("".join(self.chunks).split())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "img":
            self.images.append(found)
        if tag == "article":
            self.check_states.append((found.get("class") or "").removeprefix("check "))
        self._in_style = tag == "style"
        if tag == "tr":
            self.rows.append([])
        if tag in ("td", "th"):
            self._cell = []
        for name in ("src", "href"):
            if (found.get(name) or "data:").split(":")[0] not in ("data", ""):
                self.external.append(found[name] or "")

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, text: str) -> None:
        if self._in_style:
            return
        self.chunks.append(text)
        if self._cell is not None:
            self._cell.append(text)


@contextlib.contextmanager
def chromium(viewport: dict[str, int]) -> Iterator[BrowserContext]:
    """Debian's Chromium through Playwright (no browser download), with a fresh profile."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    sync_api = pytest.importorskip("playwright.sync_api")
    profile = tempfile.mkdtemp(prefix="kerasgrade-chromium-")
    try:
        with sync_api.sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                viewport=viewport)
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def wait_for_checks(notebook: Locator, expected: int, seconds: float) -> Locator:
    """Wait until ``expected`` outputs of the JupyterLab notebook show a check's ✔ line (a
    traceback fails at once); the ticks, however many there are when the time is up."""
    ticks = notebook.locator(".jp-OutputArea-output", has_text="✔")
    deadline = time.monotonic() + seconds
    while ticks.count() < expected and time.monotonic() < deadline:
        text = notebook.text_content() or ""
        assert "Traceback" not in text, text[max(0, text.index("Traceback") - 500):][:3000]
        notebook.page.wait_for_timeout(1000)
    return ticks
