"""Write kerasgrade's scores into nbgrader's gradebook, for `nbgrader export` and formgrader.

One check is one nbgrader grade cell: a check's name is the cell's grade_id, its points the
cell's `auto_score`. Only the batch's parent process writes here (SQLite allows one writer;
with PostgreSQL the rule keeps the history of a grade in one place).

An assignment that is not in the gradebook yet (or is there without its notebook, added with
`nbgrader db assignment add ID --duedate=...`) is registered from the released notebook:
the notebook, its grade cells (points) and solution cells, which is what scores, `nbgrader
export` and formgrader need. Source cells are left out on purpose: the released notebook
has no hidden tests, and `nbgrader autograde` would overwrite test cells with that empty
version. `nbgrader generate_assignment` remains the way to register an assignment for
nbgrader's own autograder.

Late work is penalised by nbgrader's own AssignLatePenalties preprocessor, configured by the
course's nbgrader_config.py (LateSubmissionPlugin.penalty_method, or an instructor's
AssignLatePenalties.plugin_class), on the due dates, extensions and timestamps the gradebook
holds: the penalty `nbgrader autograde` would give.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import AssignLatePenalties
from nbgrader.utils import parse_utc
from sqlalchemy.exc import SAWarning
from traitlets.config import Config

from kerasgrade import settings
from kerasgrade.course.assignments import Assignment
from kerasgrade.results import SubmissionResult

NBGRADER_CONFIG = "nbgrader_config.py"
LOCK = Path(".kerasgrade") / "gradebook.lock"


class GradebookMismatch(RuntimeError):
    """The gradebook (its grade cells) or the course's nbgrader settings (its late penalty
    plugin) do not fit the grader: scores would land wrong."""


@dataclass(frozen=True)
class CourseSettings:
    db_url: str
    course_id: str
    config: Config  # the course's nbgrader configuration, late penalty plugin included
    root: Path  # the course folder

    @contextlib.contextmanager
    def setting_up(self) -> Iterator[None]:
        """One grader at a time creates the gradebook's tables or registers an assignment.

        nbgrader creates a new gradebook's tables (alembic) when it is first opened, unguarded:
        two graders that open a new one at once (three batches started together, a batch beside
        the service) both create them, and one stops on "table alembic_version already
        exists". A lock in the course's own folder serialises that, whatever the database.
        """
        lock = self.root / LOCK
        lock.parent.mkdir(parents=True, exist_ok=True)
        with lock.open("a") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            yield

    def open(self) -> Gradebook:
        with self.setting_up():
            return Gradebook(self.db_url, self.course_id)

    def ignore(self) -> list[str]:
        """The file patterns nbgrader's apps pass over (CourseDirectory.ignore)."""
        default = CourseDirectory.class_traits()["ignore"].default()
        return list(self.config.get("CourseDirectory", {}).get("ignore", default))


@dataclass(frozen=True)
class Lateness:
    penalty: float
    seconds_late: float


def course_settings(root: Path, db_url: str | None = None, config: Config | None = None
                    ) -> CourseSettings:
    """The gradebook URL and course id nbgrader itself would use for this course folder.
    config: the course's configuration, as kerasgrade.settings.load read it (None: read now)."""
    if config is None:
        config = settings.load(root)[1].config
    course = config.get("CourseDirectory", {})
    return CourseSettings(
        db_url=db_url or course.get("db_url") or f"sqlite:///{(root / 'gradebook.db').resolve()}",
        course_id=course.get("course_id") or "default_course",
        config=config,
        root=root,
    )


def read_timestamp(submission_dir: Path) -> datetime | None:
    """nbgrader's timestamp.txt (written by `nbgrader collect`), for late penalties."""
    path = submission_dir / "timestamp.txt"
    if not path.exists():
        return None
    try:
        return parse_utc(path.read_text().strip()) or None
    except (ValueError, OverflowError):
        return None  # nbgrader refuses to grade then; a grade without a date is better


class GradebookWriter:
    """The one writer: registers assignments and records submissions' auto scores."""

    def __init__(self, settings: CourseSettings) -> None:
        self.settings = settings
        self.gb = settings.open()

    def __enter__(self) -> GradebookWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.gb.close()

    def check_late_plugin(self) -> None:
        """Load the course's late penalty plugin now: a misspelt one must stop the batch before
        anything is graded, not fail on the first late submission."""
        try:
            AssignLatePenalties(config=self.settings.config).init_plugin()
        except Exception as exc:  # an instructor's own class can fail in any way
            raise GradebookMismatch(
                f"the late penalty plugin in {NBGRADER_CONFIG} cannot be loaded: "
                f"{type(exc).__name__}: {exc}") from None

    def ensure_assignment(self, spec: Assignment, release: Path) -> str:
        """Register the assignment from its released notebook if needed; return the notebook id.

        Raises GradebookMismatch when the gradebook's grade cells and points differ from the
        grader's checks, before anything is graded.
        """
        with self.settings.setting_up():
            return self._ensure_assignment(spec, release)

    def _ensure_assignment(self, spec: Assignment, release: Path) -> str:
        assignment_id = spec.id
        try:
            assignment = self.gb.find_assignment(assignment_id)
        except MissingEntry:
            assignment = None
        if assignment is None or not assignment.notebooks:
            if not release.exists():
                state = "is not in" if assignment is None else "has no notebook in"
                raise GradebookMismatch(
                    f"{assignment_id} {state} the gradebook and there is no released notebook "
                    f"at {release} to register it from (run `nbgrader generate_assignment "
                    f"{assignment_id}`)"
                )
            if assignment is None:
                self.gb.add_assignment(assignment_id)
            self._register(assignment_id, release)
            assignment = self.gb.find_assignment(assignment_id)
        if len(assignment.notebooks) != 1:
            raise GradebookMismatch(
                f"{assignment_id} has {len(assignment.notebooks)} notebooks in the gradebook; "
                "kerasgrade grades assignments of exactly one notebook"
            )
        notebook = assignment.notebooks[0]
        cells = {cell.name: cell.max_score for cell in notebook.grade_cells}
        # The written answers are grade cells too, scored by hand in formgrader (manual).
        checks = {c.name: float(c.points) for c in (*spec.checks, *spec.manual)}
        if cells != checks:
            raise GradebookMismatch(
                f"the gradebook's grade cells for {assignment_id} ({_points(cells)}) are not the "
                f"grader's checks ({_points(checks)})"
            )
        return str(notebook.name)

    def _register(self, assignment_id: str, release: Path) -> None:
        nb = nbformat.read(release, as_version=4)
        notebook_id = release.stem
        self.gb.add_notebook(notebook_id, assignment_id,
                             kernelspec=json.dumps(nb.metadata.get("kernelspec", {})))
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade"):
                self.gb.add_grade_cell(meta["grade_id"], notebook_id, assignment_id,
                                       max_score=float(meta["points"]), cell_type=cell.cell_type)
            if meta.get("solution"):
                self.gb.add_solution_cell(meta["grade_id"], notebook_id, assignment_id)

    def record(self, result: SubmissionResult, notebook_id: str,
               timestamp: datetime | None = None) -> None:
        """Each check's points as the auto score of the grade cell of the same name.

        Manual scores are never touched; as in nbgrader's SaveAutoGrades, a grade with a
        manual score stays flagged for review, and a written answer (no check, no auto score)
        waits for the teacher in formgrader.
        """
        gb = self.gb
        gb.update_or_create_student(result.student)
        extra = {"timestamp": timestamp} if timestamp else {}
        with warnings.catch_warnings():
            # nbgrader's add_submission builds its rows in an order SQLAlchemy warns about
            # (harmless; `nbgrader autograde` prints the same warnings).
            warnings.simplefilter("ignore", SAWarning)
            gb.update_or_create_submission(result.assignment, result.student, **extra)
        submitted = gb.find_submission_notebook(notebook_id, result.assignment, result.student)
        points = {c.name: c.points for c in result.checks}
        for grade in submitted.grades:
            grade.auto_score = points.get(grade.name)
            grade.needs_manual_grade = grade.manual_score is not None or grade.auto_score is None
        gb.db.commit()

    def assign_late_penalty(self, assignment_id: str, notebook_id: str,
                            student: str) -> Lateness:
        """Run nbgrader's AssignLatePenalties on the recorded submission, as `nbgrader
        autograde` does after saving the scores; return what it set."""
        penalties = AssignLatePenalties(config=self.settings.config)
        resources = {"nbgrader": {"notebook": notebook_id, "assignment": assignment_id,
                                  "student": student, "db_url": self.settings.db_url}}
        # It reads and writes through a session of its own: ours must not hold stale rows.
        self.gb.db.commit()
        penalties.preprocess(nbformat.v4.new_notebook(), resources)
        self.gb.db.expire_all()
        submission = self.gb.find_submission(assignment_id, student)
        notebook = self.gb.find_submission_notebook(notebook_id, assignment_id, student)
        return Lateness(float(notebook.late_submission_penalty or 0.0),
                        float(submission.total_seconds_late))


def _points(cells: dict[str, float]) -> str:
    return ", ".join(f"{name}={points:g}" for name, points in sorted(cells.items()))
