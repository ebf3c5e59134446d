"""Every path of a course folder (nbgrader's layout plus kerasgrade's own), in one place."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# nbgrader's folders (its defaults, which this course's nbgrader_config.py keeps).
SOURCE = "source"  # master notebooks: solutions and hidden tests
RELEASE = "assignments"  # the student versions
SOLUTIONS = "solutions"  # executed reference solutions (kerasgrade's own)
SUBMITTED = "submitted"  # <student>/<assignment>/
AUTOGRADED = "autograded"  # <student>/<assignment>/: the graded notebook, for formgrader
FEEDBACK = "feedback"  # generate_feedback's pages
# kerasgrade's own.
REPORTS = "reports"  # per-student pages and results.json, beside nbgrader's feedback/
GRADES_CSV = "kerasgrade-grades.csv"  # not nbgrader export's default grades.csv
CLASS_REPORT = "class-report"  # `kerasgrade report`: names every student's mistakes
# A student id the service and the LMS's roster accept: what a Unix login or an LMS id looks
# like. No "+" (an inbound name's separator), no "/" or "..", no glob characters, no markup, no
# control characters.
STUDENT_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}")
COURSE_DIRS = ("autograder", SOURCE, SOLUTIONS, SUBMITTED, AUTOGRADED, FEEDBACK, REPORTS,
               GRADES_CSV, "grades.csv", "downloaded", "gradebook.db", ".kerasgrade",
               CLASS_REPORT)


def private_paths(root: Path, extra: tuple[Path, ...] = ()) -> tuple[Path, ...]:
    """What a student's code must never read: the course's private folders and files.

    /run holds the machine's service sockets, which stay connectable on a read-only mount.
    """
    return tuple(root / d for d in COURSE_DIRS) + (Path("/run"),) + extra


def course_root() -> Path:
    """The course folder: the repository this package lives in, when it is one."""
    here = Path(__file__).resolve().parents[3]
    return here if (here / RELEASE).is_dir() else Path.cwd()


def notebook_path(folder: Path, assignment_id: str) -> Path:
    """An assignment's notebook in one of the course's folders (source, release, solutions)."""
    return folder / assignment_id / f"{assignment_id}.ipynb"


def release_notebook(root: Path, assignment_id: str) -> Path:
    return notebook_path(root / RELEASE, assignment_id)


def graded_dir(root: Path, student: str, assignment_id: str) -> Path:
    """Where the graded notebook goes, as `nbgrader autograde` leaves it."""
    return root / AUTOGRADED / student / assignment_id


@dataclass
class Submission:
    student: str
    folder: Path
    path: Path | None  # None: nothing gradable was found, `problem` says why
    problem: str = ""


def discover(root: Path, assignment_id: str) -> tuple[list[Submission], list[str]]:
    """One submission per student folder (the notebook named after the assignment, else the
    only notebook there), and why each folder whose name is no student id is left out."""
    found, left_out = [], []
    submitted = root / SUBMITTED
    for student_dir in sorted(p for p in submitted.iterdir()
                              if p.is_dir() and not p.name.startswith(".")):
        folder = student_dir / assignment_id
        if not folder.is_dir():
            continue
        if not _text(student_dir.name):  # the gradebook, pages and CSV could not hold it
            left_out.append(f"{SUBMITTED}/{ascii(student_dir.name)[1:-1]} is left out: its "
                            "name is not a student id (not UTF-8 text, or control characters); "
                            "rename the folder to the student's id")
            continue
        path, problem = pick_notebook(folder, assignment_id)
        found.append(Submission(student_dir.name, folder, path, problem))
    return found, left_out


def _text(name: str) -> bool:
    try:
        name.encode()
    except UnicodeEncodeError:  # undecodable bytes, kept by Python as lone surrogates
        return False
    return name.isprintable()


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
