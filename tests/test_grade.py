"""grade.py's stages: each takes the value the one before returned; a stage that stops the
grading gives its result. No kernel here: the fast tier."""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from kerasgrade import grade
from kerasgrade.course import assignments
from kerasgrade.execute.driver import Execution
from kerasgrade.jobs.options import ExecOptions, with_limits
from kerasgrade.jobs.runner import Cold

FACTS = Path(__file__).parent / "fixtures" / "facts"
AID = assignments.CONNECTED_NETWORKS


def measured(tmp_path: Path, case: str, jobs: ExitStack) -> grade.Measured:
    """Stage 3's value for a recorded case, as measure_stage leaves it."""
    recorded = json.loads((FACTS / AID / f"{case}.json").read_text())
    facts = recorded["facts"]
    path = tmp_path / f"{AID}.ipynb"
    return grade.Measured(
        path=path, assignment_id=AID, student="s1", options=ExecOptions(), work=tmp_path,
        root=tmp_path, executed_to=None, jobs=jobs, started=time.monotonic(), assignment=AID,
        nb=None, notes=facts.get("sanitize_notes", []),
        runner=Cold(with_limits(ExecOptions(), AID), tmp_path),
        execution=Execution(facts["execution"], None, {"training": 1.5}, None),
        facts=facts, timings={"training": 1.5, "measure": 0.5})


@pytest.mark.parametrize("case", ["solution", "dense32", "no-softmax"])
def test_check_and_report_stages_grade_what_was_measured(tmp_path: Path, case: str) -> None:
    recorded = json.loads((FACTS / AID / f"{case}.json").read_text())
    with ExitStack() as jobs:
        result = grade.run_stages(measured(tmp_path, case, jobs), grade.STAGES[3:])
    assert isinstance(result, grade.SubmissionResult)
    assert {c.name: c.points for c in result.checks} == recorded["scores"]
    assert (result.assignment, result.student, result.status) == (AID, "s1", recorded["status"])
    assert result.timings["measure"] == 0.5 and result.timings["total"] >= 0
    # The same grade as nbgrader's feedback makes from the same facts.
    again = grade.result_from_facts(AID, "s1", result.notebook, recorded["facts"])
    assert [(c.name, c.points, c.message) for c in again.checks] == \
        [(c.name, c.points, c.message) for c in result.checks]


def test_a_file_that_is_not_a_notebook_stops_at_the_first_stage(tmp_path: Path) -> None:
    path = tmp_path / f"{AID}.ipynb"
    path.write_bytes(b"print('I am a script')\n")
    with ExitStack() as jobs, pytest.raises(grade.Stopped) as stopped:
        grade.sanitize_stage(grade.Submission(path, AID, "s1", ExecOptions(), tmp_path,
                                              tmp_path, None, jobs, time.monotonic()))
    result = grade.grade_notebook(path, student="s1")
    assert result == stopped.value.result
    assert result.status == "error" and result.assignment == AID and "JSON" in result.reason
    assert [c.name for c in result.checks] == [c.name for c in assignments.get(AID).checks]
    assert all(c.points == 0 and result.reason in c.message for c in result.checks)
    assert path.read_bytes() == b"print('I am a script')\n"
