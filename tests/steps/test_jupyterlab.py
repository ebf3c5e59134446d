"""A student's view: the released 02 notebook in JupyterLab, in headless Chromium.

JupyterLab runs offline with its home, config, data and settings in a temporary folder. The
released notebook gets the instructor's solutions in its TODO cells (as a student would type
them), then Run > Run All Cells must bring every check cell to its ✔ line.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat
import pytest
from browser import chromium, wait_for_checks
from lab_server import STARTUP_SECONDS, Server, jupyterlab

from kerasgrade.course.assignments import CONNECTED_NETWORKS
from kerasgrade.course.demo import answered

if TYPE_CHECKING:
    from playwright.sync_api import Page

expect = pytest.importorskip("playwright.sync_api").expect

ROOT = Path(__file__).resolve().parents[2]
RELEASED = ROOT / "assignments" / CONNECTED_NETWORKS / f"{CONNECTED_NETWORKS}.ipynb"
RUN_SECONDS = 420  # TensorFlow's import and ten epochs on a busy two-core machine

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@dataclass(frozen=True)
class Lab:
    server: Server
    notebook: Path


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    base = tmp_path_factory.mktemp("jupyterlab")
    work = base / "work"
    work.mkdir()
    notebook = work / RELEASED.name
    nbformat.write(answered(ROOT, CONNECTED_NETWORKS), notebook)
    with jupyterlab(work, base) as server:
        yield Lab(server, notebook)


@pytest.fixture
def page() -> Iterator[Page]:
    with chromium(viewport={"width": 1280, "height": 900}) as context:
        yield context.new_page()


def test_released_notebook_runs_in_jupyterlab(lab: Lab, page: Page, tmp_path: Path) -> None:
    page.goto(f"{lab.server.url}/lab/tree/{lab.notebook.name}?token={lab.server.token}")
    notebook = page.locator(".jp-NotebookPanel-notebook")
    # One check cell per TODO cell; waiting for all ten also waits for the notebook to render.
    expected = 10
    expect(notebook.locator(".jp-CodeCell", has_text="check_step(")).to_have_count(
        expected, timeout=STARTUP_SECONDS * 1000)
    # The status bar names the kernel only once the page is connected to it; the toolbar's
    # indicator says idle earlier, and Run All before the connection runs nothing.
    page.locator(".jp-StatusBar-Widget", has_text="Python 3 (ipykernel) | Idle").wait_for(
        timeout=STARTUP_SECONDS * 1000)

    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

    ticks = wait_for_checks(notebook, expected, RUN_SECONDS)
    # The screenshot comes first, so that a failure leaves a picture of where it stopped.
    if ticks.count():
        ticks.last.scroll_into_view_if_needed()
    shot = tmp_path / "jupyterlab-02.png"
    page.screenshot(path=shot)
    print(f"screenshot: {shot}")
    assert ticks.count() == expected, (
        f"{ticks.count()} of {expected} checks passed in {RUN_SECONDS} s; see {shot} and the "
        f"server's log:\n{lab.server.log.read_text()[-3000:]}")
    assert "✔ save" in ticks.last.text_content()
    assert shot.stat().st_size > 10_000
