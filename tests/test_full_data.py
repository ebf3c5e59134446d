"""Every demo mistake scores what it should on the full data sets, as `scripts/grade.sh` sets
them up (the reference solutions: `pytest autograder/` in the same CI step).

It runs only with pytest's --full-data DIR, a folder `kerasgrade data fetch` filled (as
scripts/test.sh passes it); the other tests train on the 5,000-digit sample.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

from kerasgrade.course import assignments
from kerasgrade.course.demo import EXPECTED_FAILURES, MISTAKES, answered

ROOT = Path(__file__).resolve().parents[1]
FULL_SOURCES = {"mnist", "fashion-mnist"}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory, full_data: Path
            ) -> dict[tuple[str, str], dict[str, Any]]:
    """{(assignment, mistake): the stored result}, from one `kerasgrade grade` per assignment."""
    course = tmp_path_factory.mktemp("full-data")
    for aid, mistakes in MISTAKES.items():
        shutil.copytree(ROOT / "assignments" / aid, course / "assignments" / aid)
        for name, change in mistakes.items():
            path = course / "submitted" / name / aid / f"{aid}.ipynb"
            path.parent.mkdir(parents=True)
            nbformat.write(answered(ROOT, aid, change), path)
    # The three batches at once, a worker each: 03's one notebook trains for minutes alone.
    procs = {aid: subprocess.Popen(
        [sys.executable, "-m", "kerasgrade", "grade", aid, "--root", str(course),
         "--workers", "1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=dict(os.environ, KERASGRADE_DATA_DIR=str(full_data)))
        for aid in MISTAKES}
    for aid, proc in procs.items():
        out, _ = proc.communicate(timeout=1800)
        assert proc.returncode == 0 and "grader failures 0" in out, (aid, out[-3000:])
    return {
        (aid, name): json.loads((course / ".kerasgrade" / "results" / aid / f"{name}.json"
                                 ).read_text())["result"]
        for aid, mistakes in MISTAKES.items() for name in mistakes
    }


@pytest.mark.parametrize("aid,mistake", [(a, m) for a, ms in MISTAKES.items() for m in ms])
def test_mistake_scores_on_full_data(results: dict[tuple[str, str], dict[str, Any]], aid: str,
                                     mistake: str) -> None:
    result = results[(aid, mistake)]
    assert result["data_source"] in FULL_SOURCES, result["data_source"]
    failed = {c["name"] for c in result["checks"] if not c["passed"]}
    assert (result["status"], failed) == ("graded", set(EXPECTED_FAILURES[aid][mistake])), [
        c["message"] for c in result["checks"] if not c["passed"]]
    lost = sum(c.points for c in assignments.get(aid).checks if c.name in failed)
    assert result["score"] == assignments.get(aid).max_score - lost
