"""The whole course cycle through nbgrader's own exchange, as two Unix users.

The instructor (this process, root) releases, collects, grades, generates and releases the
feedback; the student, a real second Unix user created here, fetches, submits and fetches the
feedback with an nbgrader of its own: Debian's python3 in a venv that user can read (this
Python lives under /root, which it cannot enter). The page the student ends with must open
with the kerasgrade report and carry the gradebook's score, whether `kerasgrade grade` or
`nbgrader autograde` graded it.

The work is late (the due date is long past) and the course has a late penalty plugin of its
own, defined in nbgrader_config.py: both graders must take the same 3 points off.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from browser import Page
from classroom import AID, REPO, grade
from nbgrader.api import Gradebook
from nbgrader_course import make_course, nbgrader
from unix_users import Student, debian_venv, need_root_and_debian_python, unix_user

from kerasgrade.course.demo import answered

pytestmark = pytest.mark.slow  # a second Unix user; graded runs that train

COURSE_ID = "kerasgrade"  # nbgrader_config.py's
SOLVED = 14.0
PENALTY = 3.0
DUE = "2026-01-01 00:00:00 UTC"
LATE_PLUGIN = """
from nbgrader.plugins import LateSubmissionPlugin


class ThreeOff(LateSubmissionPlugin):
    def late_submission_penalty(self, student_id, score, total_seconds_late):
        return 3.0


c.AssignLatePenalties.plugin_class = ThreeOff
"""


@pytest.fixture(scope="session")
def shared() -> Iterator[Path]:
    """A folder every user can traverse: the student's venv, home and the exchange."""
    need_root_and_debian_python()
    base = Path(tempfile.mkdtemp(prefix="kerasgrade-exchange-"))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def student(shared: Path) -> Iterator[Student]:
    # Only nbgrader: the student fetches and submits, the grading runs on the instructor's
    # side.
    venv = debian_venv(shared / "venv", ["nbgrader"])
    name = f"kgstudent{os.getpid()}"
    with unix_user(name, shared / "home" / name, venv) as account:
        yield account


@pytest.mark.parametrize("grader", ["kerasgrade", "nbgrader"])
def test_release_submit_grade_feedback_round_trip(grader: str, student: Student,
                                                  shared: Path, tmp_path: Path) -> None:
    exchange = shared / f"exchange-{grader}"
    exchange.mkdir()
    exchange.chmod(0o777 | 0o1000)  # as nbgrader's docs set it up: everyone, sticky
    course = make_course(tmp_path, AID, {})
    with (course / "nbgrader_config.py").open("a") as f:
        f.write(f"\nc.Exchange.root = {str(exchange)!r}\n{LATE_PLUGIN}")
    desk = student.home / grader  # the student's folder for this course
    desk.mkdir()
    os.chown(desk, student.uid, student.gid)
    (desk / "nbgrader_config.py").write_text(
        f"c = get_config()  # noqa: F821\nc.Exchange.root = {str(exchange)!r}\n"
        f"c.CourseDirectory.course_id = {COURSE_ID!r}\n")

    nbgrader(course, "generate_assignment", AID)
    nbgrader(course, "db", "assignment", "add", AID, f"--duedate={DUE}")
    nbgrader(course, "release_assignment", AID)
    student.run("fetch_assignment", AID, cwd=desk)
    work = desk / AID / f"{AID}.ipynb"
    nbformat.write(answered(REPO, AID), work)  # the student's answers, in the student's file
    os.chown(work, student.uid, student.gid)
    student.run("submit", AID, cwd=desk)
    nbgrader(course, "collect", AID)
    submitted = course / "submitted" / student.name / AID
    assert (submitted / "timestamp.txt").is_file()

    if grader == "kerasgrade":
        proc = grade(course, "--workers", "1")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert not (course / "feedback").exists()  # left to generate_feedback
    else:
        nbgrader(course, "autograde", AID)
    autograded = course / "autograded" / student.name / AID
    for name in ("timestamp.txt", "submission_secret.txt"):  # release_feedback needs both
        assert (autograded / name).read_text() == (submitted / name).read_text()
    nbgrader(course, "generate_feedback", AID)
    nbgrader(course, "release_feedback", AID)
    student.run("fetch_feedback", AID, cwd=desk)

    pages = list((desk / AID / "feedback").glob(f"*/{AID}.html"))
    assert len(pages) == 1, pages
    assert pages[0].stat().st_uid == student.uid
    html = pages[0].read_text(encoding="utf-8")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        submission = gb.find_submission(AID, student.name)
        raw, penalty = submission.score, submission.late_submission_penalty
    assert (raw, penalty) == (SOLVED, PENALTY)
    score = raw - penalty
    text = Page(html).text
    assert f"(Score: {score:.1f} / 14.0)" in text  # nbgrader's header: the gradebook's
    assert f"Late submission penalty (Score: -{PENALTY:.1f})" in text
    # the page opens with the kerasgrade report, and it agrees
    assert html.index('<div class="kerasgrade-report">') < html.index("02 · A densely")
    assert f"{score:g} / 14 points" in text
    assert f"late penalty {PENALTY:g} of {SOLVED:g} points" in text

