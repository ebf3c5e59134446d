"""What the grader writes, from one process (the batch's or the service's): gradebook, class
CSV, pages, graded notebooks, and the result store (report/store.py).

The graded notebook is what `nbgrader autograde` leaves (formgrader and generate_feedback read
it); the resume state is written last, so a killed run redoes a submission rather than losing it.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader import utils as nbgrader_utils
from nbgrader.utils import find_all_files

from kerasgrade import sanitize
from kerasgrade.artifacts import facts_bundle
from kerasgrade.course.assignments import Assignment
from kerasgrade.course.layout import GRADES_CSV, REPORTS, graded_dir
from kerasgrade.report import feedback, gradebook, gradescope
from kerasgrade.report.store import STATE_DIR, state_path
from kerasgrade.report.text import spreadsheet_cell
from kerasgrade.results import CheckFailed, CheckResult, SubmissionResult

CSV_FIELDS = ("student", "assignment", "score", "max_score", "late_penalty", "status", "reason")


TIMESTAMP = "timestamp.txt"


def _write_atomic(path: Path, text: str) -> None:
    """Readers (and a rerun after a kill) see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class Publisher:
    """Everything the grader writes for one assignment (spec), in one process: reporters
    first, resume state last."""

    def __init__(self, root: Path, spec: Assignment, book: gradebook.GradebookWriter,
                 notebook_id: str) -> None:
        self.root = root
        self.spec = spec
        self.book = book
        self.notebook_id = notebook_id
        self.rows = {(row["assignment"], row["student"]): row for row in self._stored_rows()}

    def publish(self, submitted: Path, result: SubmissionResult, state: dict[str, Any],
                executed: str | None = None) -> SubmissionResult:
        """submitted: the student's folder in submitted/ (its timestamp and other files).
        Returns the result as published: with the gradebook's late penalty."""
        # Where nbgrader's formgrader and generate_feedback look for the graded notebook.
        folder = graded_dir(self.root, result.student, self.spec.id)
        graded = folder / f"{self.notebook_id}.ipynb"
        if executed is not None:
            _write_atomic(graded, autograded_notebook(executed, result))
        else:  # no run (a refused file): an older run's notebook would contradict the grade
            graded.unlink(missing_ok=True)
        result = self.sync(submitted, result)
        self._reports(submitted, result, state)
        return result

    def refresh(self, submitted: Path, state: dict[str, Any]) -> None:
        """An unchanged submission: the class-wide stores again (a new or reset gradebook is
        filled again), its reports again when its lateness changed (an extension, a due date)."""
        stored = SubmissionResult.from_dict(state["result"])
        result = self.sync(submitted, stored)
        if (result.late_penalty, result.seconds_late) != (stored.late_penalty,
                                                          stored.seconds_late):
            self._reports(submitted, result, state)

    def _reports(self, submitted: Path, result: SubmissionResult, state: dict[str, Any]
                 ) -> None:
        """kerasgrade's own pages, nbgrader's timestamp.txt, then the resume state."""
        out = self.root / REPORTS / result.student / self.spec.id
        gradescope.write(result, self.spec, out / "results.json")
        feedback.write_page(result, self.spec, out / "feedback.html")
        graded = graded_dir(self.root, result.student, self.spec.id)
        if graded.is_dir():
            self._carry_over(submitted, graded)
        state = dict(state, result=result.to_dict(with_facts=True))
        _write_atomic(state_path(self.root, self.spec.id, result.student),
                      json.dumps(state))

    def _carry_over(self, submitted: Path, graded: Path) -> None:
        """What `nbgrader autograde` copies from submitted/ besides the notebooks, by nbgrader's
        own rule: timestamp.txt and submission_secret.txt, which generate_feedback and
        release_feedback need, and the student's other files. Links are passed over."""
        (graded / TIMESTAMP).unlink(missing_ok=True)  # a stale one would date the work wrong
        for name in find_all_files(str(submitted), self.book.settings.ignore() + ["*.ipynb"]):
            path = Path(name)
            if path.is_file() and not path.is_symlink():
                target = graded / path.relative_to(submitted)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)

    def sync(self, submitted: Path, result: SubmissionResult) -> SubmissionResult:
        """The class-wide stores: the gradebook, and the class CSV. Returns the result with the
        gradebook's late penalty."""
        self.book.record(result, self.notebook_id, gradebook.read_timestamp(submitted))
        late = self.book.assign_late_penalty(self.spec.id, self.notebook_id,
                                             result.student)
        result = replace(result, late_penalty=late.penalty, seconds_late=late.seconds_late)
        self.rows[(self.spec.id, result.student)] = _row(result)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, CSV_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows[key] for key in sorted(self.rows))
        _write_atomic(self.root / GRADES_CSV, buffer.getvalue())
        return result

    def _stored_rows(self) -> Iterator[dict[str, Any]]:
        for path in sorted((self.root / STATE_DIR).glob("*/*.json")):
            with contextlib.suppress(OSError, json.JSONDecodeError, KeyError, TypeError):
                yield _row(SubmissionResult.from_dict(json.loads(path.read_text())["result"]))


def _row(result: SubmissionResult) -> dict[str, Any]:
    return {"student": spreadsheet_cell(result.student), "assignment": result.assignment,
            "score": f"{result.score:g}", "max_score": f"{result.max_score:g}",
            "late_penalty": f"{result.late_penalty:g}", "status": result.status,
            "reason": spreadsheet_cell(result.reason)}


def autograded_notebook(executed: str, result: SubmissionResult) -> str:
    """The executed notebook with what `nbgrader autograde` leaves in its graded cells: each
    check's verdict, and in the first the facts generate_feedback's report is drawn from."""
    nb = nbformat.reads(executed, as_version=4)
    checks = {c.name: c for c in result.checks}
    first = True
    for cell in nb.cells:
        check = checks.get(sanitize.grade_id(cell) or "")
        if cell.cell_type != "code" or not nbgrader_utils.is_grade(cell) or check is None:
            continue
        attempt = (result.attempt, result.max_attempts) if result.attempt else None
        cell.outputs = ([new_output("display_data", data=facts_bundle(
            result.assignment, result.facts, attempt))] if first and result.facts else [])
        cell.outputs.append(verdict_output(check))
        first = False
    return nbformat.writes(nb)


def verdict_output(check: CheckResult) -> NotebookNode:
    """A graded cell's output as its hidden test leaves it in the kernel (bridge.run_check):
    the line printed when the check passed, a CheckFailed without traceback when not."""
    line = check.line()
    if check.passed:
        return new_output("stream", name="stdout", text=line + "\n")
    return new_output("error", ename=CheckFailed.__name__, evalue=line,
                      traceback=line.splitlines())
