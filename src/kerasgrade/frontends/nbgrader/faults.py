"""nbgrader autograde's step that keeps a grader fault from becoming a student's score.

A hidden test cell whose measuring process failed ends in a GraderFault
(frontends/nbgrader/bridge.py). nbgrader would score that cell 0 like any failed test; this
step, right after Execute in nbgrader_config.py, fails the submission instead: nbgrader then
saves no score for it, removes its autograded notebook, names it in its log and exits non-zero,
and the next `nbgrader autograde` grades it again.
"""

from __future__ import annotations

from nbconvert.exporters.exporter import ResourcesDict
from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from traitlets import Bool

from kerasgrade.course.build import is_test_cell
from kerasgrade.results import GraderFault


class GraderFaults(Preprocessor):
    """Raise GraderFault for a notebook whose hidden test cell ended in one."""

    enabled = Bool(True, help="Fail a submission whose hidden test cell met a grader fault"
                   ).tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict
                   ) -> tuple[NotebookNode, ResourcesDict]:
        for cell in nb.cells:
            if cell.cell_type != "code" or not is_test_cell(cell):
                continue  # the student's own cells may raise what they like
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error" and out.get("ename") == "GraderFault":
                    raise GraderFault(
                        f"the grader failed in the hidden test cell "
                        f"{cell.metadata.nbgrader.get('grade_id', '?')}, not the student's work: "
                        f"{out.get('evalue', '')}. No score was saved for this submission: fix "
                        "the fault and run nbgrader autograde again", "measure")
        return nb, resources
