"""A course folder run by nbgrader's own commands, for the tests of the nbgrader path."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook

from kerasgrade.course import assignments

ROOT = Path(__file__).resolve().parents[1]


def make_course(tmp: Path, assignment_id: str, submissions: dict[str, nbformat.NotebookNode]
                ) -> Path:
    """tmp/course with the repository's source/ and nbgrader_config.py, and the submissions."""
    course = tmp / "course"
    shutil.copytree(ROOT / "source" / assignment_id, course / "source" / assignment_id)
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    for student, nb in submissions.items():
        folder = course / "submitted" / student / assignment_id
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{assignment_id}.ipynb")
    return course


def nbgrader(course: Path, *args: str, env: dict[str, str] | None = None,
             check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run an nbgrader command in the course folder, as a teacher does (check: it succeeds)."""
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course,
                          capture_output=True, text=True, env=env)
    if check:
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc


def autograde(tmp: Path, assignment_id: str, submissions: dict[str, nbformat.NotebookNode],
              env: dict[str, str] | None = None) -> dict[str, dict[str, float]]:
    """Run nbgrader generate_assignment + autograde; return {student: {grade_id: score}}."""
    course = make_course(tmp, assignment_id, submissions)
    nbgrader(course, "generate_assignment", assignment_id, "--force", env=env)
    nbgrader(course, "autograde", assignment_id, "--force", "--create", env=env)
    return gradebook_scores(course, assignment_id, list(submissions))


def gradebook_scores(course: Path, assignment_id: str, students: list[str]
                     ) -> dict[str, dict[str, float]]:
    """{student: {grade_id: score}} as the course's gradebook holds them."""
    out: dict[str, dict[str, float]] = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in students:
            nb = gb.find_submission_notebook(assignment_id, assignment_id, student)
            out[student] = {g.name: g.score for g in nb.grades}
    return out


def expected_points(assignment_id: str) -> dict[str, float]:
    return {c.name: c.points for c in assignments.get(assignment_id).checks}
