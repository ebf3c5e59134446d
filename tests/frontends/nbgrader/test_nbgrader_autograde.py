"""nbgrader's own commands grade the course right: real nbgrader, real training, real data.

A temporary course folder gets the repository's source/ and nbgrader_config.py; nbgrader
generates the release, autogrades submissions, and the scores are read from its gradebook.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from nbgrader.api import Gradebook
from nbgrader_course import (
    ROOT,
    autograde,
    expected_points,
    gradebook_scores,
    make_course,
    nbgrader,
)

from kerasgrade import data
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


def test_a_measuring_fault_saves_no_score_and_the_next_run_grades(tmp_path: Path,
                                                                  full_data: Path) -> None:
    """The kernel finds MNIST in its Keras cache, but the measuring process, in a sandbox of its
    own, cannot (the shared-data root is open to every user, so nothing is shared): that is the
    grader's fault. nbgrader names it, exits non-zero and saves no score, where it used to
    score every hidden cell 0. With the data where the sandbox reads it, the next run grades."""
    aid = assignments.PREPARING_DATA
    cache = tmp_path / "keras" / "datasets" / "mnist"
    cache.mkdir(parents=True)
    for name in data.IDX_FILES:
        shutil.copyfile(full_data / "mnist" / name, cache / name)
    open_root = tmp_path / "open-to-all"
    open_root.mkdir()
    open_root.chmod(0o777)
    env = {k: v for k, v in os.environ.items()
           if k not in ("KERASGRADE_DATA_DIR", "KERASGRADE_SHARED_DATA")}
    env |= {"KERAS_HOME": str(tmp_path / "keras"), "KERASGRADE_NO_SAMPLE": "1",
            "KERASGRADE_SHARED_DATA_ROOT": str(open_root)}
    course = make_course(tmp_path, aid, {"solution": answered(ROOT, aid)})
    nbgrader(course, "generate_assignment", aid, "--force", env=env)
    failed = nbgrader(course, "autograde", aid, "--force", "--create", env=env, check=False)
    log = failed.stdout + failed.stderr
    assert failed.returncode != 0, log[-3000:]
    assert "the grader failed in the hidden test cell" in log, log[-3000:]
    assert "data is not available in the sandbox: Full MNIST was not found" in log
    assert f"There was an error processing assignment '{aid}' for student 'solution'" in log
    assert not (course / "autograded" / "solution" / aid).exists()
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert not [g.score for nb in gb.find_submission(aid, "solution").notebooks
                    for g in nb.grades if g.auto_score is not None]

    env["KERASGRADE_DATA_DIR"] = str(full_data)  # a data folder: the sandbox shows it
    nbgrader(course, "autograde", aid, "--force", env=env)
    assert gradebook_scores(course, aid, ["solution"])["solution"] == expected_points(aid)
