"""nbgrader's own commands grade the course right: real nbgrader, real training, real data.

A temporary course folder gets the repository's source/ and nbgrader_config.py; nbgrader
generates the release, autogrades submissions, and the scores are read from its gradebook.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from nbgrader.api import Gradebook
from nbgrader_course import ROOT, autograde, expected_points

from kerasgrade.course import assignments
from kerasgrade.course.demo import MISTAKES, answered, untouched

pytestmark = pytest.mark.slow  # nbgrader autograde: kernels that train


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


def test_04_solution_full_autograded_marks_answers_left_to_the_teacher(tmp_path: Path) -> None:
    """The three written answers are grade cells nbgrader leaves for formgrader: no auto
    score (nbgrader counts them 0 until a teacher grades them), flagged for manual grading."""
    aid = assignments.IMPROVING_NETWORK
    scores = autograde(tmp_path, aid, {"solution": answered(ROOT, aid)})
    spec = assignments.get(aid)
    assert scores["solution"] == expected_points(aid) | dict.fromkeys(
        (c.name for c in spec.manual), 0.0)
    with Gradebook(f"sqlite:///{tmp_path / 'course' / 'gradebook.db'}") as gb:
        nb = gb.find_submission_notebook(aid, aid, "solution")
        manual = {g.name: (g.auto_score, g.needs_manual_grade, g.max_score)
                  for g in nb.grades if g.cell_type == "markdown"}
    assert manual == {c.name: (None, True, c.points) for c in spec.manual}


def test_03_solution_full_marks(tmp_path: Path) -> None:
    """30 epochs on 55,000 Fashion-MNIST images: the slowest test (minutes)."""
    aid = assignments.FASHION_CLASSIFIER
    scores = autograde(tmp_path, aid, {"solution": answered(ROOT, aid)})
    assert scores["solution"] == expected_points(aid)
