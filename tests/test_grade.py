"""grade.py's stages: each takes the value the one before returned; a stage that stops the
grading gives its result. No kernel here: the fast tier."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from contextlib import ExitStack
from pathlib import Path

import nbformat
import pytest

from kerasgrade import grade
from kerasgrade.course import assignments
from kerasgrade.execute.driver import Execution
from kerasgrade.jobs.options import ExecOptions, with_limits
from kerasgrade.jobs.runner import Cold

FACTS = Path(__file__).parent / "fixtures" / "facts"
AID = assignments.CONNECTED_NETWORKS
SPEC = assignments.get(AID)


def measured(tmp_path: Path, case: str, jobs: ExitStack) -> grade.Measured:
    """Stage 3's value for a recorded case, as measure_stage leaves it."""
    recorded = json.loads((FACTS / AID / f"{case}.json").read_text())
    facts = recorded["facts"]
    path = tmp_path / f"{AID}.ipynb"
    return grade.Measured(
        path=path, student="s1", options=ExecOptions(), work=tmp_path,
        root=tmp_path, executed_to=None, jobs=jobs, started=time.monotonic(), spec=SPEC,
        nb=None, notes=facts.get("sanitize_notes", []),
        runner=Cold(with_limits(ExecOptions(), SPEC), tmp_path),
        execution=Execution(facts["execution"], None, {"training": 1.5}, None),
        facts=facts, timings={"training": 1.5, "measure": 0.5})


@pytest.mark.parametrize("case", ["solution", "dense32", "no-softmax"])
def test_check_and_report_stages_grade_what_was_measured(tmp_path: Path, case: str) -> None:
    recorded = json.loads((FACTS / AID / f"{case}.json").read_text())
    with ExitStack() as jobs:
        stages = grade.STAGES
        result = stages.report(stages.check(measured(tmp_path, case, jobs)))
    assert isinstance(result, grade.SubmissionResult)
    assert {c.name: c.points for c in result.checks} == recorded["scores"]
    assert (result.assignment, result.student, result.status) == (AID, "s1", recorded["status"])
    assert result.timings["measure"] == 0.5 and result.timings["total"] >= 0
    # The same grade as nbgrader's feedback makes from the same facts.
    again = grade.result_from_facts(assignments.get(AID), "s1", result.notebook, recorded["facts"])
    assert [(c.name, c.points, c.message) for c in again.checks] == \
        [(c.name, c.points, c.message) for c in result.checks]


def test_a_file_that_is_not_a_notebook_stops_at_the_first_stage(tmp_path: Path) -> None:
    path = tmp_path / f"{AID}.ipynb"
    path.write_bytes(b"print('I am a script')\n")
    with ExitStack() as jobs, pytest.raises(grade.GradingEnded) as stopped:
        grade.sanitize_stage(grade.HandedIn(path, SPEC, "s1", ExecOptions(), tmp_path,
                                            tmp_path, None, jobs, time.monotonic()))
    result = grade.grade_notebook(path, student="s1")
    assert result == stopped.value.result
    assert result.status == "error" and result.assignment == AID and "JSON" in result.reason
    assert [c.name for c in result.checks] == [c.name for c in assignments.get(AID).checks]
    assert all(c.points == 0 and result.reason in c.message for c in result.checks)
    assert path.read_bytes() == b"print('I am a script')\n"


def test_the_measure_stage_leaves_the_value_it_was_given_as_it_was(tmp_path: Path) -> None:
    """A notebook whose files the grader will not copy (a FIFO) and a cell stopped at the limit:
    the reason and the reference's time go into new facts, not into the execution given."""
    artifacts = tmp_path / "notebook" / "artifacts"
    artifacts.mkdir(parents=True)
    os.mkfifo(artifacts / "pipe")
    run = {"status": "ok", "reason": "", "cell_seconds": [1.0],
           "timed_out": [{"cell": 3, "first_line": "while True:", "limit_seconds": 45.0}]}
    given = json.loads(json.dumps(run))
    with ExitStack() as jobs:
        executed = grade.Executed(
            path=tmp_path / f"{AID}.ipynb", student="s1",
            options=ExecOptions(), work=tmp_path, root=tmp_path, executed_to=None, jobs=jobs,
            started=time.monotonic(), spec=SPEC, nb=None, notes=["a note"],
            runner=Cold(with_limits(ExecOptions(), SPEC), tmp_path),
            execution=Execution(run, None, {"training": 1.5}, artifacts))
        measured = grade.STAGES.measure(executed)
    assert executed.execution.run == given  # unchanged
    execution = measured.facts["execution"]
    assert "will not read" in execution["reason"] and "cell_seconds" not in execution
    assert execution["reference"]["seconds"] > 0
    assert measured.facts["sanitize_notes"] == ["a note"]
    assert measured.execution.run["reason"] == execution["reason"]


def test_the_report_stage_writes_an_inert_copy_and_leaves_the_executed_notebook(
        tmp_path: Path) -> None:
    """The formgrader's notebook loses the script its student's output carried; the notebook
    the stage was given keeps it (a stage never changes the values it takes)."""
    script = "<script>document.title = 'pwned'</script>"
    executed = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x", outputs=[
        nbformat.v4.new_output("display_data", data={"text/html": script})])])
    with ExitStack() as jobs:
        value = measured(tmp_path, "solution", jobs)
        checked = grade.Checked(
            **{f.name: getattr(value, f.name) for f in dataclasses.fields(value)}, results=[])
        checked = dataclasses.replace(
            checked, executed_to=tmp_path / "graded.ipynb",
            execution=dataclasses.replace(checked.execution, executed=executed))
        grade.STAGES.report(checked)
    assert executed.cells[0].outputs[0].data["text/html"] == script
    written = nbformat.read(tmp_path / "graded.ipynb", as_version=4)
    assert "text/html" not in written.cells[0].outputs[0].data
