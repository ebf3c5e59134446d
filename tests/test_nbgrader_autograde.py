"""nbgrader's own commands grade the course right: real nbgrader, real training, real data.

A temporary course folder gets the repository's source/ and nbgrader_config.py; nbgrader
generates the release, autogrades submissions, and the scores are read from its gradebook.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from kerasgrade.course import assignments
from kerasgrade.course.demo import MISTAKES, answered, untouched

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


def test_02_solution_full_untouched_zero_one_mistake_one_step(tmp_path: Path) -> None:
    aid = assignments.CONNECTED_NETWORKS
    scores = autograde(tmp_path, aid, {
        "solution": answered(ROOT, aid),
        "untouched": untouched(ROOT, aid),
        "dense32": answered(ROOT, aid, MISTAKES[aid]["dense32"]),
    })
    full = expected_points(aid)
    assert scores["solution"] == full
    assert scores["untouched"] == dict.fromkeys(full, 0.0)
    assert scores["dense32"] == full | {"architecture": 0.0}


def test_01_solution_full_untouched_zero(tmp_path: Path) -> None:
    aid = assignments.PREPARING_DATA
    scores = autograde(tmp_path, aid, {"solution": answered(ROOT, aid),
                                       "untouched": untouched(ROOT, aid)})
    full = expected_points(aid)
    assert scores["solution"] == full
    assert scores["untouched"] == dict.fromkeys(full, 0.0)


@pytest.mark.slow
def test_03_solution_full_marks(tmp_path: Path) -> None:
    """30 epochs on 55,000 Fashion-MNIST images: the slowest test (minutes)."""
    aid = assignments.FASHION_CLASSIFIER
    scores = autograde(tmp_path, aid, {"solution": answered(ROOT, aid)})
    assert scores["solution"] == expected_points(aid)
