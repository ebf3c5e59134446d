"""nbgrader autograde's step that names the cells stopped at the time limit.

nbgrader's Execute interrupts a cell that runs past Execute.timeout, marks it with an error
of its own (Execute.error_on_timeout, CellTimeoutError) and goes on. The hidden test cells
that run later cannot know it, and their checks would give their usual advice ("pass it on:
model.fit(...)"). This step, right after Execute in nbgrader_config.py, records the student's
stopped cells in the facts the hidden cells left (artifacts.FACTS_MIME, which generate_feedback's
report reads), with the reference solution's time, and runs each failed hidden cell's check
again on them (kerasgrade.time_limit words what happened, as in every front end). Only the
messages change: a cell's pass or fail, and so its score, stays what the kernel made it.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from nbconvert.exporters.exporter import ResourcesDict
from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Bool

from kerasgrade import checks, sanitize, time_limit
from kerasgrade.artifacts import FACTS_MIME, Facts
from kerasgrade.course import time_limits
from kerasgrade.course.assignments import Assignment
from kerasgrade.course.build import is_test_cell
from kerasgrade.frontends import assignment as named
from kerasgrade.results import CheckFailed


class TimedOutCells(Preprocessor):
    """Name the student's cells that nbgrader stopped at its cell limit, in the checks."""

    enabled = Bool(True, help="Tell the students which of their cells ran past the time limit"
                   ).tag(config=True)

    def _execute(self, name: str) -> Any:
        """nbgrader's Execute setting as this run has it (nbgrader_config.py sets the limit)."""
        given = self.config.Execute.get(name)
        return given if given is not None else Execute.class_traits()[name].default()

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict
                   ) -> tuple[NotebookNode, ResourcesDict]:
        ename, limit = self._execute("error_on_timeout")["ename"], self._execute("timeout")
        stopped = [time_limit.timed_out_cell(number, cell.source, limit)
                   for number, cell in enumerate(nb.cells, 1)
                   if cell.cell_type == "code" and not is_test_cell(cell)
                   and any(out.get("ename") == ename for out in cell.get("outputs", []))]
        if stopped:
            _tell_the_checks(nb, stopped)
        return nb, resources


def _tell_the_checks(nb: NotebookNode, stopped: list[time_limit.TimedOutCell]) -> None:
    """Each graded cell's facts get the stopped cells; each failed check runs again on them."""
    from kerasgrade.report.publish import verdict_output  # matplotlib: only when needed

    checked: tuple[Assignment | None, Facts] | None = None  # the facts the checks read
    for cell in nb.cells:
        if cell.cell_type != "code" or not is_test_cell(cell):
            continue  # a student's cell could print a facts bundle of its own
        for out in cell.outputs:
            if FACTS_MIME in out.get("data", {}):
                checked = _with_stopped(out.data[FACTS_MIME], stopped)
        if checked is None:
            continue
        spec, facts = checked
        name = sanitize.grade_id(cell)
        if spec is None or name not in {c.name for c in spec.checks}:
            continue
        for index, out in enumerate(cell.outputs):
            if out.get("output_type") == "error" and out.get("ename") == CheckFailed.__name__:
                result = checks.run_one(spec, name, facts)
                if not result.passed:  # never a new score: only what the failure says
                    cell.outputs[index] = verdict_output(result)


def _with_stopped(payload: dict[str, Any], stopped: list[time_limit.TimedOutCell]
                  ) -> tuple[Assignment | None, Facts]:
    """The bundle's assignment (None: unknown) and its facts with the stopped cells and the
    reference's time, written back."""
    spec = None
    with contextlib.suppress(KeyError):
        spec = named(payload["assignment"])
    facts: Facts = json.loads(payload["facts"])
    facts.setdefault("execution", {})["timed_out"] = stopped
    if spec is not None:
        facts = time_limits.note_reference(facts, spec)
    payload["facts"] = json.dumps(facts)
    return spec, facts
