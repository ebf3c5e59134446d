"""Every path of a course folder (nbgrader's layout plus kerasgrade's own), in one place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPORTS = "reports"  # kerasgrade's own per-student pages, beside nbgrader's feedback/
GRADES_CSV = "kerasgrade-grades.csv"  # not nbgrader export's default grades.csv
CLASS_REPORT = "class-report"  # `kerasgrade report`: names every student's mistakes
COURSE_DIRS = ("autograder", "source", "solutions", "submitted", "autograded", "feedback",
               REPORTS, GRADES_CSV, "grades.csv", "downloaded", "gradebook.db", ".kerasgrade",
               CLASS_REPORT)


def course_root() -> Path:
    """The course folder: the repository this package lives in, when it is one."""
    here = Path(__file__).resolve().parents[3]
    return here if (here / "assignments").is_dir() else Path.cwd()


def release_dir(root: Path, assignment_id: str) -> Path:
    """The student version of an assignment: nbgrader's release folder."""
    return root / "assignments" / assignment_id


def release_notebook(root: Path, assignment_id: str) -> Path:
    return release_dir(root, assignment_id) / f"{assignment_id}.ipynb"


@dataclass
class Submission:
    student: str
    folder: Path
    path: Path | None  # None: nothing gradable was found, `problem` says why
    problem: str = ""


def discover(root: Path, assignment_id: str) -> list[Submission]:
    """One submission per student folder; the notebook named after the assignment, else the
    only notebook there."""
    found = []
    submitted = root / "submitted"
    for student_dir in sorted(p for p in submitted.iterdir()
                              if p.is_dir() and not p.name.startswith(".")):
        folder = student_dir / assignment_id
        if folder.is_dir():
            path, problem = pick_notebook(folder, assignment_id)
            found.append(Submission(student_dir.name, folder, path, problem))
    return found


def pick_notebook(folder: Path, assignment_id: str) -> tuple[Path | None, str]:
    """The notebook named after the assignment, else the only notebook in folder; or None and
    why not."""
    notebooks = sorted(p for p in folder.glob("*.ipynb") if p.is_file())
    named = folder / f"{assignment_id}.ipynb"
    if named in notebooks:
        return named, ""
    if len(notebooks) == 1:
        return notebooks[0], ""
    return None, (f"{len(notebooks)} notebooks were submitted and none is named {named.name}"
                  if notebooks else "no notebook was submitted")
