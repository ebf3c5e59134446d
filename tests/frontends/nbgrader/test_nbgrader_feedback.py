"""`nbgrader generate_feedback` hands each student the kerasgrade report: real nbgrader.

One 02 submission with Dense(32) instead of Dense(16) (it loses the 3-point architecture
check: 11 of 14) is autograded and its feedback generated in a temporary course, as a
teacher does from the repository root; the page is read as HTML and in Chromium.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat
import pytest
from browser import Page, chromium
from nbconvert.exporters import HTMLExporter
from nbformat.v4 import new_code_cell, new_output
from nbgrader_course import autograde, expected_points, gradebook_scores, nbgrader

from kerasgrade.artifacts import FACTS_MIME
from kerasgrade.course.assignments import CONNECTED_NETWORKS
from kerasgrade.course.demo import MISTAKES, answered
from kerasgrade.frontends.nbgrader.feedback import KerasgradeReport

if TYPE_CHECKING:
    from playwright.sync_api import Route

pytestmark = pytest.mark.slow  # nbgrader autograde: kernels that train

ROOT = Path(__file__).resolve().parents[3]
AID = CONNECTED_NETWORKS
STUDENT = "dense32"
ARCHITECTURE = ("The network differs from the one asked for: 25,450 parameters "
                "(expected 12,730).")
FACTS_LINE = "kerasgrade measured this submission"
# Where kerasgrade's own files live on the grading machine: no student should read them.
GRADER_PATH = re.compile(r"kerasgrade/[\w/]+\.py")


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A course folder after `nbgrader autograde` and `nbgrader generate_feedback`."""
    tmp = tmp_path_factory.mktemp("nbgrader-feedback")
    autograde(tmp, AID, {STUDENT: answered(ROOT, AID, MISTAKES[AID]["dense32"])})
    nbgrader(tmp / "course", "generate_feedback", AID, "--force")
    return tmp / "course"


@pytest.fixture(scope="module")
def feedback(course: Path) -> str:
    return (course / "feedback" / STUDENT / AID / f"{AID}.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def autograded(course: Path) -> nbformat.NotebookNode:
    return nbformat.read(course / "autograded" / STUDENT / AID / f"{AID}.ipynb", 4)


def report_part(page: str) -> str:
    """The kerasgrade report: from its element to the notebook's next cell."""
    start = page.index('<div class="kerasgrade-report">')
    return page[start:page.index('<div class="cell', start)]


def cell_output(page: str, grade_id: str) -> str:
    """What the page shows below the code of one cell of the notebook."""
    start = page.index(f'id="cell-id={grade_id}"')
    end = page.find('<div class="cell', start + 1)
    cell = page[start:end if end > 0 else None]
    return cell[cell.index('<div class="output_wrapper">'):]


def test_gradebook_keeps_nbgrader_scores(course: Path) -> None:
    """generate_feedback reads the gradebook; the facts in the outputs did not change it."""
    full = expected_points(AID)
    scores = gradebook_scores(course, AID, [STUDENT])[STUDENT]
    assert scores == full | {"architecture": 0.0}
    assert (sum(scores.values()), sum(full.values())) == (11, 14)


def test_autograded_notebook_keeps_the_facts(autograded: nbformat.NotebookNode) -> None:
    """nbgrader's autograde preprocessors leave the facts the first graded cell displayed."""
    carriers = [(c.metadata["nbgrader"]["grade_id"], o.data[FACTS_MIME])
                for c in autograded.cells if c.cell_type == "code"
                for o in c.outputs if FACTS_MIME in o.get("data", {})]
    assert [grade_id for grade_id, _ in carriers] == ["epochs"]
    payload = carriers[0][1]
    assert payload["assignment"] == AID
    facts = json.loads(payload["facts"])
    assert facts["model"]["params"] == 25_450


def test_report_at_the_top_of_the_feedback(feedback: str) -> None:
    report = Page(report_part(feedback))
    # Above the notebook's own first cell, its title.
    assert feedback.index("kerasgrade-report") < feedback.index("02 · A densely connected")
    assert "11 / 14 points" in report.text
    assert "student dense32" in report.text
    assert "(Score: 11.0 / 14.0)" in Page(feedback).text  # nbgrader's header agrees
    assert report.check_states == ["passed", "failed", "passed", "passed", "passed", "passed",
                                   "passed"]
    assert ARCHITECTURE in report.text
    assert "What to change: a Dense layer has 32 units where 16 are expected" in report.text
    assert ["Dense (None, 16) 12,560, relu", "Dense (None, 32) 25,120, relu",
            "WRONG"] in report.rows
    assert [img["alt"] for img in report.images] == [
        "training curves", "confusion matrix", "misclassified test images"]
    for img in report.images:
        src = img["src"] or ""
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert report.external == []
    assert FACTS_LINE not in Page(feedback).text  # the facts' carrier is gone


def test_failed_check_shows_its_message_not_a_traceback(feedback: str) -> None:
    failed = cell_output(feedback, "architecture")
    text = Page(failed).text
    assert f"✘ Layers, output shapes and 12,730 parameters: {ARCHITECTURE}" in text
    assert "What to change: a Dense layer has 32 units" in text
    assert "Traceback" not in text
    assert not GRADER_PATH.search(failed), GRADER_PATH.search(failed)
    assert "✔ Trained for 10 epochs" in Page(cell_output(feedback, "epochs")).text


def test_no_traceback_or_grader_path_anywhere(feedback: str) -> None:
    """The step checks that failed along the way (Dense(32)) show their messages too."""
    text = Page(feedback).text
    assert "Traceback" not in text
    assert not GRADER_PATH.search(feedback), GRADER_PATH.search(feedback)
    assert 'Step "hidden_layer" is not right yet.' in text


def test_formgrader_shows_the_autograded_notebook(course: Path) -> None:
    """The formgrader's own exporter and template (as its submission handler runs them)."""
    from nbgrader.server_extensions.formgrader import handlers

    exporter = HTMLExporter(template_name="formgrade",
                            extra_template_basedirs=[handlers.template_path])
    resources = {"assignment_id": AID, "notebook_id": AID, "submission_id": "x", "index": 0,
                 "total": 1, "base_url": "", "student": STUDENT, "last_name": None,
                 "first_name": None, "notebook_path": "autograded"}
    html, _ = exporter.from_filename(
        str(course / "autograded" / STUDENT / AID / f"{AID}.ipynb"), resources=resources)
    text = Page(html).text
    assert f"✘ Layers, output shapes and 12,730 parameters: {ARCHITECTURE}" in text
    assert FACTS_LINE in text  # the text/plain beside the facts, for the teacher
    assert "Traceback" not in text


def preprocess(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    resources = {"nbgrader": {"student": STUDENT, "notebook": AID, "score": 11.0}}
    return KerasgradeReport().preprocess(nb, resources)[0]


def test_facts_only_from_graded_cells(autograded: nbformat.NotebookNode) -> None:
    """A student's cell that displays facts of its own does not make the report."""
    nb = copy.deepcopy(autograded)
    forged = {"assignment": AID, "facts": json.dumps({"execution": {}})}
    nb.cells.append(new_code_cell("display(...)", outputs=[
        new_output("display_data", data={FACTS_MIME: forged, "text/plain": "hi"})]))
    cells = len(nb.cells)
    out = preprocess(nb)
    assert len(out.cells) == cells + 1
    report = Page(out.cells[0].outputs[0].data["text/html"])
    assert "11 / 14 points" in report.text
    assert ARCHITECTURE in report.text
    assert not [o for c in out.cells if c.cell_type == "code" for o in c.outputs
                if FACTS_MIME in o.get("data", {})]


def test_without_facts_the_notebook_is_left_alone(autograded: nbformat.NotebookNode,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    """A notebook autograded before the bridge left facts gets nbgrader's page, as it was."""
    nb = copy.deepcopy(autograded)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if FACTS_MIME not in o.get("data", {})]
    before = copy.deepcopy(nb)
    with caplog.at_level(logging.WARNING):
        assert preprocess(nb) == before
    assert "No kerasgrade facts" in caplog.text


@pytest.mark.browser
def test_feedback_in_chromium(course: Path, tmp_path: Path) -> None:
    """The page draws offline: only nbgrader's MathJax script is not in the file."""
    fetched: list[tuple[str, str]] = []

    def offline(route: Route) -> None:
        fetched.append((route.request.resource_type, route.request.url))
        route.fulfill(status=200, body="", content_type="text/javascript")

    with chromium(viewport={"width": 1100, "height": 900}) as browser:
        browser.route(re.compile(r"^https?://"), offline)
        page = browser.new_page()
        errors: list[str] = []
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto((course / "feedback" / STUDENT / AID / f"{AID}.html").as_uri(),
                  wait_until="load")
        sizes = page.eval_on_selector_all(
            ".kerasgrade-report img",
            "imgs => imgs.map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
        # Bootstrap's 10px root font must not shrink the report (its sizes are in em).
        heading, check_title = (
            page.eval_on_selector(sel, "e => parseFloat(getComputedStyle(e).fontSize)")
            for sel in (".kerasgrade-report h1", ".kerasgrade-report h3"))
        page.screenshot(path=tmp_path / "nbgrader-feedback.png", full_page=True)
        page.close()
    assert len(sizes) == 3 and all(done and w > 0 and h > 0 for done, w, h in sizes), sizes
    assert heading >= 20 and check_title >= 14, (heading, check_title)
    assert errors == []
    assert [kind for kind, _ in fetched] == ["script"], fetched
