"""Every path of a course folder (nbgrader's layout plus kerasgrade's own), in one place."""

from __future__ import annotations

from pathlib import Path

REPORTS = "reports"  # kerasgrade's own per-student pages, beside nbgrader's feedback/
GRADES_CSV = "kerasgrade-grades.csv"  # not nbgrader export's default grades.csv
COURSE_DIRS = ("autograder", "source", "solutions", "submitted", "autograded", "feedback",
               REPORTS, GRADES_CSV, "grades.csv", "downloaded", "gradebook.db", ".kerasgrade")


def course_root() -> Path:
    """The course folder: the repository this package lives in, when it is one."""
    here = Path(__file__).resolve().parents[3]
    return here if (here / "assignments").is_dir() else Path.cwd()


def release_dir(root: Path, assignment_id: str) -> Path:
    """The student version of an assignment: nbgrader's release folder."""
    return root / "assignments" / assignment_id


def release_notebook(root: Path, assignment_id: str) -> Path:
    return release_dir(root, assignment_id) / f"{assignment_id}.ipynb"
