"""The tool's side of the test platform's registration, and a course's gradebook filled as the
grader fills it, without TensorFlow: for the LTI tests, the launch tests and
bench/lti_passback.py.

`platform_up()` the platform serving while a block runs; `lti_config(lms, key)` the lines
of nbgrader_config.py that register the tool with the platform; `write_context(course, lms)`
what a launch leaves for the service (the AGS and NRPS claims, .kerasgrade/lti/context.json);
`make_course` a course folder registered with it; `enrol`, `grade`, `grade_by_hand` its
gradebook's students and grades.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lti_platform import CLIENT_ID, DEPLOYMENT_ID, ISSUER, Member, Platform
from nbgrader.api import Gradebook

from kerasgrade.course import assignments
from kerasgrade.lti.settings import KEY
from kerasgrade.report import gradebook
from kerasgrade.results import CheckResult, SubmissionResult

REPO = Path(__file__).resolve().parents[2]
CONTEXT_FILE = Path(".kerasgrade") / "lti" / "context.json"


@contextlib.contextmanager
def platform_up() -> Iterator[Platform]:
    """The platform on loopback for the block: a test's (conftest) or a module's hub's."""
    platform = Platform()
    platform.up()
    try:
        yield platform
    finally:
        platform.down()


def write_key(lms: Platform, path: Path) -> Path:
    """The tool's private key, readable by its owner only (the settings refuse others)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(lms.tool_key_pem())
    return path


def lti_settings(lms: Platform, key: Path) -> dict[str, str]:
    """The tool's registration with this platform: c.KerasgradeLti's traits."""
    return {"issuer": ISSUER, "client_id": CLIENT_ID, "deployment_id": DEPLOYMENT_ID,
            "jwks_url": lms.jwks_url, "token_url": lms.token_url, "auth_url": lms.auth_url,
            "private_key": str(key)}


def lti_config(lms: Platform, key: Path) -> str:
    """The nbgrader_config.py lines that register the tool with this platform."""
    return "".join(f"c.KerasgradeLti.{name} = {value!r}\n"
                   for name, value in lti_settings(lms, key).items())


def write_context(course: Path, lms: Platform) -> Path:
    """The claims a launch into the course leaves for the service, as the launch keeps them."""
    path = course / CONTEXT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(lms.claims(), indent=1))
    return path


def enrol(root: Path, *members: Member) -> None:
    """Students in the gradebook as `kerasgrade lti roster` leaves them (their LMS id)."""
    with Gradebook(gradebook.course_settings(root).db_url, "kerasgrade") as gb:
        for m in members:
            gb.update_or_create_student(m.email.split("@")[0], lms_user_id=m.sub)


def grade(root: Path, aid: str, student: str, lost: dict[str, float] | None = None,
          late: bool = False) -> None:
    """A graded submission in the gradebook, as the grader records it: every check full but
    the points `lost`; late: submitted a day after the due date (penalty: all of it)."""
    settings = gradebook.course_settings(root)
    spec = assignments.get(aid)
    lost = lost or {}
    result = SubmissionResult(aid, student, f"{aid}.ipynb", "graded", "", [
        CheckResult(c.name, c.points - lost.get(c.name, 0.0), c.points,
                    c.name not in lost, "") for c in spec.checks])
    due = datetime(2026, 12, 1, 17, tzinfo=UTC)
    with gradebook.GradebookWriter(settings) as book:
        notebook = book.ensure_assignment(spec, REPO / "assignments" / aid / f"{aid}.ipynb")
        book.gb.find_assignment(aid).duedate = due.replace(tzinfo=None)
        book.gb.db.commit()
        book.record(result, notebook, (due + timedelta(days=1 if late else -1)
                                       ).replace(tzinfo=None))
        book.assign_late_penalty(aid, notebook, student)


def grade_by_hand(root: Path, aid: str, student: str) -> None:
    """The formgrader's grade of the written answers: full points."""
    spec = assignments.get(aid)
    with Gradebook(gradebook.course_settings(root).db_url, "kerasgrade") as gb:
        for cell in spec.manual:
            g = gb.find_grade(cell.name, aid, aid, student)
            g.manual_score = cell.points
            g.needs_manual_grade = False
        gb.db.commit()


def make_course(lms: Platform, root: Path) -> Path:
    """A course folder whose nbgrader_config.py registers the tool with `lms`, retrying fast,
    with the tool's key where the settings want it (.kerasgrade/lti/, hidden from the
    sandbox), a late penalty (nbgrader's "zero") and a launch's claims in place."""
    root.mkdir()
    key = write_key(lms, root / KEY)
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.course_id = 'kerasgrade'\n"
        "c.LateSubmissionPlugin.penalty_method = 'zero'\n" + lti_config(lms, key)
        + "c.KerasgradeLti.retry_seconds = 0.2\nc.KerasgradeLti.retry_max_seconds = 0.5\n"
        "c.KerasgradeLti.timeout_seconds = 5.0\n"
        "c.KerasgradeLti.roster_minutes = 0.0\n")  # the tests that want it turn it on
    write_context(root, lms)
    return root
