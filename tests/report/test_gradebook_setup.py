"""Graders started together on a course with no gradebook yet (three batches at once, a batch
beside the service) all open it: one creates its tables, the others wait for it."""

from __future__ import annotations

import multiprocessing
import shutil
from pathlib import Path

import pytest

from kerasgrade.course import assignments
from kerasgrade.course.layout import release_notebook
from kerasgrade.report import gradebook

ROOT = Path(__file__).resolve().parents[2]
GRADERS = 4


def _open_and_register(root: Path, aid: str, start: multiprocessing.synchronize.Barrier
                       ) -> None:
    course = gradebook.course_settings(root)
    start.wait()  # every grader opens the new gradebook at the same moment
    with gradebook.GradebookWriter(course) as book:
        book.ensure_assignment(assignments.get(aid), release_notebook(root, aid))


@pytest.mark.slow
def test_graders_started_together_open_a_new_gradebook(tmp_path: Path) -> None:
    ids = list(assignments.ASSIGNMENTS)
    for aid in ids:
        shutil.copytree(ROOT / "assignments" / aid, tmp_path / "assignments" / aid)
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(GRADERS)
    graders = [context.Process(target=_open_and_register,
                               args=(tmp_path, ids[i % len(ids)], start))
               for i in range(GRADERS)]
    for grader in graders:
        grader.start()
    for grader in graders:
        grader.join(120)
    assert [g.exitcode for g in graders] == [0] * GRADERS
    with gradebook.course_settings(tmp_path).open() as gb:
        assert sorted(a.name for a in gb.assignments) == sorted(ids)
