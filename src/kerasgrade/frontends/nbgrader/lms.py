"""Canvas: its "Download submissions" archive in, its gradebook CSV out, through nbgrader.

In: `nbgrader zip_collect ID` with this in nbgrader_config.py puts each student's notebook
into submitted/<student>/<ID>/ (nbgrader's own FileNameCollectorPlugin does the work):

    c.FileNameCollectorPlugin.named_regexp = kerasgrade.frontends.nbgrader.lms.CANVAS_FILE_NAME

Canvas names each file <login>[_LATE]_<user id>_<submission id>_<file name>, with "-1",
"-2"... before the extension of a file resubmitted under the same name.

Out: `nbgrader export --exporter=kerasgrade.nbgrader_plugins.CanvasExportPlugin --to
canvas.csv` writes the gradebook in the layout of Canvas's gradebook CSV (Student, ID, SIS
User ID, SIS Login ID, Section, one column per assignment), which Canvas's "Import" takes
back. The scores are
`nbgrader export`'s: late penalties subtracted, 0 where nothing was submitted.
"""

from __future__ import annotations

import csv

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import ExportPlugin
from traitlets import Dict

from kerasgrade.report.text import spreadsheet_cell

CANVAS_FILE_NAME = (r".*/(?P<student_id>[^/_]+)(?:_LATE)?_\d+_\d+_"
                    r"(?P<file_id>[^/]+?)(?:-\d+)?\.ipynb$")
CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")


class CanvasExportPlugin(ExportPlugin):
    """Grades as Canvas's gradebook CSV: the nbgrader student id as SIS Login ID, the LMS user
    id (`nbgrader db student add --lms-user-id`) as Canvas's ID."""

    columns = Dict(
        {}, help="The Canvas column title per assignment, e.g. {'02-connected-networks': "
                 "'Connected networks (4321)'}; default: the assignment id."
    ).tag(config=True)

    def export(self, gradebook: Gradebook) -> None:
        dest = self.to or "canvas-grades.csv"
        wanted = {str(a) for a in self.assignment}
        chosen = {str(s) for s in self.student}
        homework = [a for a in gradebook.assignments if not wanted or a.name in wanted]
        students = [s for s in gradebook.students if not chosen or s.id in chosen]
        self.log.info("Exporting %d assignment(s) for %d student(s) to %s in Canvas's layout",
                      len(homework), len(students), dest)
        with open(dest, "w", newline="", encoding="utf-8") as f:
            out = csv.writer(f)
            out.writerow([*CANVAS_COLUMNS, *(self.columns.get(a.name, a.name) for a in homework)])
            # Canvas's own export has this row; its import skips it.
            out.writerow(["Points Possible", "", "", "", "",
                          *(f"{a.max_score:g}" for a in homework)])
            for student in students:
                name = ", ".join(p for p in (student.last_name, student.first_name) if p)
                # Names come from the LMS's roster and ids from folder names: text, not formulas.
                cells = (name or student.id, student.lms_user_id or "", "", student.id, "")
                out.writerow([*map(spreadsheet_cell, cells),
                              *(_score(gradebook, a.name, student.id) for a in homework)])


def _score(gradebook: Gradebook, assignment: str, student: str) -> str:
    """The score `nbgrader export` gives: less the late penalty, never below 0."""
    try:
        submission = gradebook.find_submission(assignment, student)
    except MissingEntry:
        return "0"
    return f"{max(0.0, submission.score - submission.late_submission_penalty):g}"
