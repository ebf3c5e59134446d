"""A student id that holds HTML runs no script in nbgrader's formgrader, with kerasgrade's guard.

A course of one small notebook is autograded by nbgrader for a student whose id (the name of
their folder in submitted/) is an HTML tag that also breaks out of a JavaScript string. The
instructor's JupyterLab is opened in headless Chromium: the Manage Students list, that
student's page and their submission's page. A control first proves that nbgrader as installed
runs both payloads; with kerasgrade.frontends.nbgrader.formgrader enabled, neither runs, every
page shows the id as text, and a grade typed on the submission's page reaches the gradebook.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nbformat
import pytest
from browser import chromium
from lab_server import STARTUP_SECONDS, Server, jupyterlab
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from nbgrader.api import Gradebook
from nbgrader_course import nbgrader

from kerasgrade.frontends.nbgrader import formgrader

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

AID = "ps1"
# A tag where the id is printed as HTML, and a way out of `var student_id = "..."` in the
# page's inline script; each sets its own global. No '/' (a folder name) nor glob characters.
STUDENT = '<img src=x onerror=kgTag=1>";kgScript=1;"'
PAYLOADS = ("kgTag", "kgScript")
MANUAL = "answer"  # the cell graded by hand on the submission's page


def source_notebook() -> nbformat.NotebookNode:
    answer = new_markdown_cell("YOUR ANSWER HERE", metadata={"nbgrader": {
        "solution": True, "grade": True, "locked": False, "task": False,
        "grade_id": MANUAL, "points": 2, "schema_version": 3}})
    return new_notebook(cells=[new_code_cell("x = 1"), answer])


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The course folder after `nbgrader autograde`: the hostile id is a gradebook student."""
    course = tmp_path_factory.mktemp("formgrader") / "course"
    source = course / "source" / AID / f"{AID}.ipynb"
    source.parent.mkdir(parents=True)
    nbformat.write(source_notebook(), source)
    nbgrader(course, "generate_assignment", AID)
    submitted = course / "submitted" / STUDENT / AID
    submitted.mkdir(parents=True)
    released = nbformat.read(course / "release" / AID / f"{AID}.ipynb", 4)
    released.cells[1].source = "My answer."
    nbformat.write(released, submitted / f"{AID}.ipynb")
    nbgrader(course, "autograde", AID, "--create")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert [s.id for s in gb.students] == [STUDENT]
    return course


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserContext]:
    with chromium(viewport={"width": 1280, "height": 900}) as context:
        yield context


def opened(browser: BrowserContext, server: Server, path: str) -> Page:
    page = browser.new_page()
    # The formgrader's own requests carry no token: the header logs in every one of them.
    page.set_extra_http_headers({"Authorization": f"token {server.token}"})
    page.on("dialog", lambda d: d.dismiss())
    page.goto(server.url + path)
    page.wait_for_load_state("load")
    return page


def ran(page: Page) -> dict[str, Any]:
    """Which payloads ran, once an <img>'s failed load has had time to fire onerror."""
    page.wait_for_timeout(1500)
    return {name: page.evaluate(f"() => window.{name}") for name in PAYLOADS}


def student_page(browser: BrowserContext, server: Server) -> Page:
    """Manage Students, where the id is listed as text; then the student's own page."""
    page = opened(browser, server, "/formgrader/manage_students")
    row = page.locator("#main-table tr", has=page.locator("td.id", has_text="onerror"))
    row.wait_for(timeout=STARTUP_SECONDS * 1000)
    assert row.locator("td.id").text_content() == STUDENT
    row.locator("td.name a").click()
    page.wait_for_url("**/formgrader/manage_students/*")
    page.wait_for_load_state("load")
    return page


def submission_page(browser: BrowserContext, server: Server) -> Page:
    """The gradebook's list of the assignment's submissions, then the student's submission."""
    page = opened(browser, server, f"/formgrader/gradebook/{AID}/{AID}")
    link = page.locator("tbody tr td.name a.name-shown")
    link.wait_for(state="attached", timeout=STARTUP_SECONDS * 1000)
    assert link.text_content() == STUDENT
    page.goto(server.url + (link.get_attribute("href") or ""))
    page.wait_for_load_state("load")
    return page


def manual_score(course: Path) -> float | None:
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return gb.find_grade(MANUAL, AID, AID, STUDENT).manual_score


def test_control_nbgrader_alone_runs_the_id(course: Path, browser: BrowserContext,
                                            tmp_path: Path) -> None:
    """Without the guard both payloads run: nbgrader is still unsafe, and the detector works
    (if nbgrader escapes one day, this fails: the guard may then go)."""
    with jupyterlab(course, tmp_path) as server:
        assert ran(student_page(browser, server)) == {"kgTag": 1, "kgScript": 1}
        assert ran(submission_page(browser, server))["kgTag"] == 1


def test_guarded_formgrader_shows_the_id_as_text_and_still_grades(
        course: Path, browser: BrowserContext, tmp_path: Path) -> None:
    none = dict.fromkeys(PAYLOADS)
    with jupyterlab(course, tmp_path, extensions=(formgrader.__name__,)) as server:
        page = student_page(browser, server)
        assert ran(page) == none
        assert page.locator("ol.breadcrumb li.active").text_content() == STUDENT
        # The page's script has the id as it is: the student's submission is listed, and
        # leads on to its notebooks, then to the notebook's page.
        for step in ("**/formgrader/manage_students/*/*", "**/formgrader/submissions/**"):
            page.locator("#main-table td.name a", has_text=AID).click(timeout=30_000)
            page.wait_for_url(step)
            page.wait_for_load_state("load")
            assert ran(page) == none, page.url
        assert page.locator("li.live-notebook a.name-shown").text_content().strip() == STUDENT
        assert page.locator("body").text_content().count("My answer.") == 1
        # The page still grades: a score typed by hand reaches the gradebook.
        score = page.locator(f"input.score#{MANUAL}")
        score.fill("1.5")
        score.press("Tab")
        deadline = time.monotonic() + 30
        while manual_score(course) != 1.5 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert manual_score(course) == 1.5
        assert ran(submission_page(browser, server)) == none
    assert "the formgrader's pages escape student ids" in server.log.read_text()
