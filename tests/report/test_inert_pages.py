"""A hostile submission's outputs run no script in the pages an instructor or student opens.

One 01 submission (the reference solution, so it grades fast) adds cells that put script
everywhere a notebook can carry it: HTML, Javascript, SVG and markdown outputs, a markdown
cell, an error message, and a plot that must still show. It is graded by `kerasgrade grade`
and by `nbgrader autograde` with the course's nbgrader_config.py; nbgrader's formgrader (in
JupyterLab) and the `generate_feedback` page are opened in headless Chromium. Every payload
changes document.title, logs a marker and opens a dialog: none of that may happen, and the
plot must load. A control first proves that the same outputs, left as they were, do run.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat
import pytest
from browser import chromium
from lab_server import STARTUP_SECONDS, jupyterlab
from nbconvert.exporters import HTMLExporter
from nbformat.v4 import new_code_cell, new_markdown_cell, new_output
from nbgrader_course import autograde, nbgrader

from kerasgrade.course.assignments import PREPARING_DATA
from kerasgrade.course.demo import answered
from kerasgrade.report.inert import make_inert

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

ROOT = Path(__file__).resolve().parents[2]
AID = PREPARING_DATA
STUDENT = "mallory"
MARKER = "kerasgrade-xss"
PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5"
       "ErkJggg==")

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def script(channel: str) -> str:
    return f"document.title='pwned-{channel}';console.log('{MARKER}');alert('{channel}')"


def img(channel: str) -> str:
    return f'<img src="x" onerror="{script(channel)}">'


SVG_SOURCE = f'<svg xmlns="http://www.w3.org/2000/svg" onload="{script("svg")}"/>'
HOSTILE_CELLS = [
    new_code_cell("from IPython.display import HTML, SVG, Javascript, display\n"
                  f"display(HTML({img('html')!r}))"),
    new_code_cell(f"display(Javascript({script('javascript')!r}))"),
    new_code_cell(f"display(SVG({SVG_SOURCE!r}))"),
    new_code_cell(f"display({{'text/markdown': {img('markdown-output')!r}}}, raw=True)"),
    # As a PNG: kerasgrade's kernels draw with Agg, where plt.show() displays nothing.
    new_code_cell("import io\nimport matplotlib.pyplot as plt\nfrom IPython.display import Image\n"
                  "fig = plt.figure()\nplt.plot([0, 1, 4, 9])\npng = io.BytesIO()\n"
                  "fig.savefig(png, format='png')\ndisplay(Image(png.getvalue()))"),
    new_markdown_cell(f"My notes <script>{script('markdown-script')}</script> {img('markdown')}"
                      f" [read more](javascript:{script('markdown-link')})"),
    new_code_cell(f"raise ValueError({img('error')!r})"),
]


def hostile() -> nbformat.NotebookNode:
    nb = answered(ROOT, AID)
    nb.cells.extend(HOSTILE_CELLS)
    return nb


def assert_inert(page: Page, url: str) -> None:
    """The page runs none of the payloads, still shows the student's words and its plot."""
    seen: list[str] = []
    page.on("dialog", lambda d: (seen.append(f"dialog {d.message}"), d.dismiss()))
    page.on("console", lambda m: seen.append(m.text) if MARKER in m.text else None)
    page.goto(url)
    page.wait_for_load_state("load")
    page.wait_for_timeout(3000)  # an <img onerror> fires once its load fails
    assert not page.title().startswith("pwned"), page.title()
    assert seen == [], seen
    assert "My notes <script>" in (page.text_content("body") or "")  # shown, as text
    loaded = page.locator('img[src^="data:image/png"]').evaluate_all(
        "imgs => imgs.filter(i => i.complete && i.naturalWidth > 0).length")
    assert loaded >= 1, "the plot must still show"


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserContext]:
    with chromium(viewport={"width": 1280, "height": 900}) as context:
        yield context


def formgrade_html(nb: nbformat.NotebookNode) -> str:
    """The page nbgrader's formgrader renders for a notebook (its exporter and template)."""
    from nbgrader.server_extensions.formgrader import handlers

    exporter = HTMLExporter(template_name="formgrade",
                            extra_template_basedirs=[handlers.template_path])
    html, _ = exporter.from_notebook_node(nb, resources={
        "assignment_id": AID, "notebook_id": AID, "submission_id": STUDENT, "index": 0,
        "total": 1, "base_url": "", "student": STUDENT, "last_name": None, "first_name": None,
        "notebook_path": "autograded"})
    return html


def test_control_raw_outputs_do_run_and_inert_ones_do_not(browser: BrowserContext,
                                                           tmp_path: Path) -> None:
    """Without make_inert the formgrade page runs the student's script: the detector works."""
    nb = nbformat.v4.new_notebook(cells=[
        new_code_cell("x", outputs=[new_output("display_data", data={
            "text/html": img("html"), "text/plain": "<HTML>"})]),
        new_code_cell("x", outputs=[new_output("display_data", data={
            "application/javascript": script("javascript"), "text/plain": "<JS>"})]),
        new_code_cell("x", outputs=[new_output("display_data", data={"image/png": PNG})]),
        HOSTILE_CELLS[5],
    ])
    raw = tmp_path / "raw.html"
    raw.write_text(formgrade_html(nb), encoding="utf-8")
    page = browser.new_page()
    page.on("dialog", lambda d: d.dismiss())
    page.goto(raw.as_uri())
    page.wait_for_timeout(2000)
    assert page.title().startswith("pwned"), "the raw outputs should have run"
    page.close()

    assert make_inert(nb) == 3  # the HTML and Javascript outputs, the markdown cell
    assert make_inert(nb) == 0  # a second pass (generate_feedback's) changes nothing
    inert = tmp_path / "inert.html"
    inert.write_text(formgrade_html(nb), encoding="utf-8")
    page = browser.new_page()
    assert_inert(page, inert.as_uri())
    assert "[output of type application/javascript" not in page.text_content("body")
    assert "<JS>" in page.text_content("body")  # the text/plain beside it stays


def _formgrader_page(browser: BrowserContext, course: Path, base: Path) -> None:
    """Open the student's submission in the formgrader, as the instructor would."""
    with jupyterlab(course, base) as server:
        page = browser.new_page()
        # The formgrader's own requests carry no token: the header logs in every one of them.
        page.set_extra_http_headers({"Authorization": f"token {server.token}"})
        page.goto(f"{server.url}/formgrader/gradebook/{AID}/{AID}")
        link = page.locator("tbody tr td.name a").first
        link.wait_for(timeout=STARTUP_SECONDS * 1000)
        url = server.url + (link.get_attribute("href") or "")
        assert "/formgrader/submissions/" in url, url
        assert_inert(page, url)


def test_kerasgrade_grade_formgrader_page_is_inert(browser: BrowserContext,
                                                   tmp_path: Path) -> None:
    course = tmp_path / "course"
    release = course / "assignments" / AID
    release.mkdir(parents=True)
    (release / f"{AID}.ipynb").write_bytes(
        (ROOT / "assignments" / AID / f"{AID}.ipynb").read_bytes())
    submitted = course / "submitted" / STUDENT / AID / f"{AID}.ipynb"
    submitted.parent.mkdir(parents=True)
    nbformat.write(hostile(), submitted)
    proc = subprocess.run([sys.executable, "-m", "kerasgrade", "grade", AID, "--root",
                           str(course), "--workers", "1"], capture_output=True, text=True,
                          timeout=900)
    assert "graded 1, failed 0" in proc.stdout, proc.stdout + proc.stderr
    _formgrader_page(browser, course, tmp_path)


def test_nbgrader_autograde_formgrader_and_feedback_pages_are_inert(
        browser: BrowserContext, tmp_path: Path) -> None:
    autograde(tmp_path, AID, {STUDENT: hostile()})
    course = tmp_path / "course"
    nbgrader(course, "generate_feedback", AID, "--force")
    feedback = course / "feedback" / STUDENT / AID / f"{AID}.html"
    assert_inert(browser.new_page(), feedback.as_uri())
    _formgrader_page(browser, course, tmp_path)
