"""The kerasgrade report at the top of the feedback that `nbgrader generate_feedback` writes.

While autograding, the first hidden test cell leaves the facts the grader measured in its
output (artifacts.FACTS_MIME). This preprocessor, which nbgrader_config.py appends to
GenerateFeedback's, takes them out of the notebook, runs the checks on them (the functions
that scored the cells) and puts the report feedback.py draws, plots and all, in a cell of its
own at the top. Only the graded cells' outputs are read: a student's own cell could print
anything. The gradebook is only read: the report's points are the checks' less the gradebook's
late penalty, the page header's (nbgrader's) the gradebook's.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from nbconvert.exporters.exporter import ResourcesDict
from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_output
from nbgrader import utils
from nbgrader.api import Gradebook, MissingEntry
from traitlets import Bool

from kerasgrade.artifacts import FACTS_MIME
from kerasgrade.frontends import assignment as named
from kerasgrade.grade import result_from_facts


class KerasgradeReport(Preprocessor):
    """Insert the kerasgrade report (checks, layer table, plots) above the notebook."""

    enabled = Bool(True, help="Add the kerasgrade report to the feedback").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict
                   ) -> tuple[NotebookNode, ResourcesDict]:
        payload = _take_facts(nb)
        if payload is None:
            self.log.warning("No kerasgrade facts in this notebook (autograded before kerasgrade "
                             "left them, or no graded cell ran): no report added.")
            return nb, resources
        # matplotlib loads here, not in every nbgrader command that reads nbgrader_config.py.
        from kerasgrade.report.feedback import fragment

        graded = resources.get("nbgrader", {})
        # GetGrades, before this, read the penalty from the gradebook; `kerasgrade serve`
        # leaves the attempt beside the facts.
        attempt, max_attempts = payload.get("attempt") or (0, 0)
        spec = named(payload["assignment"])
        result = dataclasses.replace(
            result_from_facts(spec, graded.get("student", ""), graded.get("notebook", ""),
                              json.loads(payload["facts"])),
            late_penalty=float(graded.get("late_penalty") or 0.0),
            seconds_late=_seconds_late(graded), attempt=attempt, max_attempts=max_attempts)
        if "score" in graded and abs(graded["score"] - result.score) > 1e-6:
            self.log.warning("The report's %g points differ from the gradebook's %g (graded by "
                             "hand): the page's header has the gradebook's.",
                             result.score, graded["score"])
        # A code cell for its HTML output; nbconvert's templates skip a transient source.
        report = new_code_cell(metadata={"transient": {"remove_source": True}}, outputs=[
            new_output("display_data", data={"text/html": fragment(result, spec)})])
        nb.cells.insert(0, report)
        return nb, resources


def _seconds_late(graded: dict[str, Any]) -> float:
    """How late the submission is, as the gradebook computes it (due date, extension)."""
    if not {"db_url", "assignment", "student"} <= graded.keys():
        return 0.0
    with Gradebook(graded["db_url"]) as gb:
        try:
            return float(gb.find_submission(graded["assignment"],
                                            graded["student"]).total_seconds_late)
        except MissingEntry:
            return 0.0


def _take_facts(nb: NotebookNode) -> dict[str, Any] | None:
    """The last facts a graded cell left, removed from every cell's output."""
    found = None
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.outputs:
            if FACTS_MIME in output.get("data", {}):
                if utils.is_grade(cell):
                    found = output.data[FACTS_MIME]
            else:
                kept.append(output)
        cell.outputs = kept
    return found
