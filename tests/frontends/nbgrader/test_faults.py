"""GraderFaults fails a submission only for a fault in a hidden test cell's output."""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from kerasgrade.nbgrader_plugins import GraderFaults
from kerasgrade.results import GraderFault


def cell(solution: bool, ename: str) -> nbformat.NotebookNode:
    out = new_output("error", ename=ename, evalue="the measuring process failed", traceback=[])
    return new_code_cell("run_check(...)", outputs=[out], metadata={"nbgrader": {
        "grade": not solution, "solution": solution, "grade_id": "arch", "points": 2}})


def test_a_fault_in_a_hidden_test_cell_fails_the_submission() -> None:
    with pytest.raises(GraderFault, match="hidden test cell arch, not the student's work: the "
                                          "measuring process failed. No score was saved"):
        GraderFaults()(new_notebook(cells=[cell(False, "GraderFault")]), {})


@pytest.mark.parametrize(("solution", "ename"), [(True, "GraderFault"), (False, "CheckFailed")],
                         ids=["raised-by-the-students-cell", "a-failed-check"])
def test_the_students_own_errors_and_failed_checks_are_scored(solution: bool, ename: str
                                                               ) -> None:
    nb = new_notebook(cells=[cell(solution, ename)])
    assert GraderFaults()(nb, {})[0] is nb
