"""A Canvas download through `nbgrader zip_collect`, graded by `kerasgrade grade` with a due
date and nbgrader's late penalty, its feedback by `nbgrader generate_feedback`, its grades
back out in Canvas's layout: real nbgrader apps, real training on the sample.

The gradebook knows the assignment and its due date before anything else (`nbgrader db
assignment add`), as a teacher sets it up; kerasgrade registers the notebook from the release.
Both students hand in the solution (14 of 14): doejane on time, smithbob a day late, with
penalty_method "zero".
"""

from __future__ import annotations

import csv
import json
import zipfile
from datetime import timedelta
from pathlib import Path

import nbformat
import pytest
from browser import Page
from classroom import AID, REPO, grade, make_course
from nbgrader.api import Gradebook
from nbgrader_course import nbgrader

from kerasgrade.course.demo import answered

pytestmark = pytest.mark.slow  # nbgrader's apps and a batch that trains

DUE = "2026-11-01 12:00:00 UTC"
STAMPS = {"doejane": "2026-11-01 11:59:00 UTC", "smithbob": "2026-11-02 12:00:00 UTC"}
CANVAS_FILES = {"doejane": f"doejane_12345_6789012_{AID}.ipynb",
                "smithbob": f"smithbob_LATE_23456_7890123_{AID}-1.ipynb"}  # resubmitted once
COURSE_CONFIG = """
# The Canvas route and late work (README, The instructor's path)
from kerasgrade.frontends.nbgrader.lms import CANVAS_FILE_NAME  # noqa: E402

c.FileNameCollectorPlugin.named_regexp = CANVAS_FILE_NAME
c.LateSubmissionPlugin.penalty_method = "zero"
"""


def export(root: Path, *args: str) -> list[dict[str, str]]:
    out = root / "export.csv"
    nbgrader(root, "export", "--to", str(out), *args)
    with out.open(newline="") as f:
        return list(csv.DictReader(f))


def results(root: Path, student: str) -> dict:
    return json.loads((root / "reports" / student / AID / "results.json").read_text())


def page(root: Path, student: str) -> str:
    return (root / "feedback" / student / AID / f"{AID}.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("canvas") / "course"
    (root / "assignments" / AID).mkdir(parents=True)
    release = REPO / "assignments" / AID / f"{AID}.ipynb"
    (root / "assignments" / AID / release.name).write_bytes(release.read_bytes())
    (root / "nbgrader_config.py").write_text(
        (REPO / "nbgrader_config.py").read_text() + COURSE_CONFIG)
    nbgrader(root, "db", "assignment", "add", AID, f"--duedate={DUE}")
    archive = root / "downloaded" / AID / "archive"
    archive.mkdir(parents=True)
    solved = nbformat.writes(answered(REPO, AID))
    with zipfile.ZipFile(archive / "submissions.zip", "w") as zf:
        for name in CANVAS_FILES.values():
            zf.writestr(name, solved)
    nbgrader(root, "zip_collect", AID)
    for student, stamp in STAMPS.items():  # what `nbgrader collect` writes
        (root / "submitted" / student / AID / "timestamp.txt").write_text(stamp)
    graded = grade(root, "--workers", "2")
    assert graded.returncode == 0, graded.stdout + graded.stderr
    nbgrader(root, "generate_feedback", AID)
    return root


def test_zip_collect_puts_canvas_files_where_kerasgrade_grades_them(course: Path) -> None:
    solved = nbformat.writes(answered(REPO, AID))
    for student in CANVAS_FILES:
        assert (course / "submitted" / student / AID / f"{AID}.ipynb").read_text() == solved
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assignment = gb.find_assignment(AID)
        assert [n.name for n in assignment.notebooks] == [AID]  # registered from the release
        assert assignment.duedate.isoformat() == "2026-11-01T12:00:00"  # kept
        raw = {s: gb.find_submission(AID, s).score for s in CANVAS_FILES}
    assert raw == {"doejane": 14, "smithbob": 14}


def test_late_work_gets_nbgrader_penalty_everywhere(course: Path) -> None:
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        penalty = {s: gb.find_submission_notebook(AID, AID, s).late_submission_penalty
                   for s in CANVAS_FILES}
        late = gb.find_submission(AID, "smithbob").total_seconds_late
    assert penalty == {"doejane": None, "smithbob": 14.0}
    assert late == 86400
    rows = {r["student_id"]: r for r in export(course)}
    assert (rows["doejane"]["score"], rows["doejane"]["late_submission_penalty"]) == ("14.0", "0.0")
    assert (rows["smithbob"]["score"], rows["smithbob"]["late_submission_penalty"]) == ("0.0",
                                                                                       "14.0")
    assert (results(course, "doejane")["score"], results(course, "smithbob")["score"]) == (14, 0)
    assert "late penalty 14 of 14 points" in results(course, "smithbob")["output"]
    assert "late" not in results(course, "doejane").get("output", "").lower()
    with (course / "kerasgrade-grades.csv").open() as f:
        ours = {r["student"]: (r["score"], r["late_penalty"]) for r in csv.DictReader(f)}
    assert ours == {"doejane": ("14", "0"), "smithbob": ("0", "14")}
    own_page = (course / "reports" / "smithbob" / AID / "feedback.html").read_text()
    assert "Submitted 1 day after the due date: late penalty 14 of 14 points." in own_page


def test_generate_feedback_page_opens_with_the_report_and_the_penalty(course: Path) -> None:
    for student, score in (("doejane", 14), ("smithbob", 0)):
        html = page(course, student)
        text = Page(html).text
        # nbgrader's header is the gradebook's score; kerasgrade's report comes first.
        assert f"(Score: {score:.1f} / 14.0)" in text
        assert html.index('<div class="kerasgrade-report">') < html.index("02 · A densely")
        assert f"{score} / 14 points" in text
    assert "Late submission penalty (Score: -14.0)" in Page(page(course, "smithbob")).text
    assert "late penalty 14 of 14 points" in Page(page(course, "smithbob")).text
    # what release_feedback needs from generate_feedback
    assert (course / "feedback" / "smithbob" / AID / "timestamp.txt").read_text() == \
        STAMPS["smithbob"]


def test_canvas_export(course: Path) -> None:
    out = course / "canvas.csv"
    nbgrader(course, "export", "--exporter=kerasgrade.nbgrader_plugins.CanvasExportPlugin",
             "--to", str(out))
    with out.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", AID]
    assert rows[1] == ["Points Possible", "", "", "", "", "14"]
    assert sorted(rows[2:]) == [["doejane", "", "", "doejane", "", "14"],
                                ["smithbob", "", "", "smithbob", "", "0"]]


def test_an_extension_makes_it_on_time(course: Path) -> None:
    """Runs last: it changes the course. A rerun grades nothing again, yet every report
    follows the gradebook's new verdict."""
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        gb.find_submission(AID, "smithbob").extension = timedelta(days=2)
        gb.db.commit()
    again = grade(course)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "graded 0, failed 0, skipped 2" in again.stdout
    rows = {r["student_id"]: r for r in export(course)}
    assert (rows["smithbob"]["score"], rows["smithbob"]["late_submission_penalty"]) == ("14.0",
                                                                                       "0.0")
    assert results(course, "smithbob")["score"] == 14
    assert "late" not in results(course, "smithbob")["output"]


def test_a_late_plugin_that_cannot_load_stops_the_batch_first(tmp_path: Path) -> None:
    root = make_course(tmp_path, ("alice",))
    (root / "nbgrader_config.py").write_text((REPO / "nbgrader_config.py").read_text()
                                              + 'c.AssignLatePenalties.plugin_class = '
                                                '"mycourse.NoSuchPlugin"\n')
    proc = grade(root)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "the late penalty plugin in nbgrader_config.py cannot be loaded" in proc.stdout
    assert "mycourse.NoSuchPlugin" in proc.stdout
    assert not (root / "reports").exists() and not (root / "autograded").exists()
