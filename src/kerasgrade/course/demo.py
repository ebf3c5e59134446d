"""A class of real submissions, for the first run on a new machine and for the benchmark.

Each student is the released notebook with the master's solutions typed in, some with
one of the mistakes students really make.
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from kerasgrade.course import assignments
from kerasgrade.course.layout import RELEASE, SOURCE, SUBMITTED, notebook_path

# Views of the spec's mistakes (tests/test_full_data.py proves the failures on full data).
MISTAKES = {aid: {name: m.edits for name, m in spec.mistakes.items()}
            for aid, spec in assignments.ASSIGNMENTS.items() if spec.mistakes}
EXPECTED_FAILURES = {aid: {name: m.fails for name, m in spec.mistakes.items()}
                     for aid, spec in assignments.ASSIGNMENTS.items() if spec.mistakes}


def untouched(root: Path, assignment_id: str) -> NotebookNode:
    return nbformat.read(notebook_path(root / RELEASE, assignment_id), 4)


def answered(root: Path, assignment_id: str, change: dict[str, str] | None = None,
             unanswered: tuple[str, ...] = ()) -> NotebookNode:
    """The released notebook with the master's solutions typed into its answer cells, except
    the grade ids in `unanswered` ("*": all). Each text in `change` is replaced by its value and
    must occur in some answer, so that a mistake cannot silently stop being one."""
    master = nbformat.read(notebook_path(root / SOURCE, assignment_id), 4)
    solutions = {
        c.metadata["nbgrader"]["grade_id"]: "\n".join(
            line for line in c.source.splitlines() if "### " not in line)
        for c in master.cells if c.metadata.get("nbgrader", {}).get("solution")
    }
    change = change or {}
    hits = dict.fromkeys(change, 0)
    nb = untouched(root, assignment_id)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid not in solutions or gid in unanswered or "*" in unanswered:
            continue
        cell.source = solutions[gid]
        for old, new in change.items():
            hits[old] += cell.source.count(old)
            cell.source = cell.source.replace(old, new)
    missing = [old for old, n in hits.items() if not n]
    if missing:
        raise ValueError(f"{missing} occur in no answer cell of {assignment_id}")
    return nb


def build_class(root: Path, course: Path, assignment_id: str, students: int = 12) -> list[Path]:
    """Write course/submitted/<student>/<id>/<id>.ipynb (correct ones and typical mistakes),
    and the released notebook into course/assignments/ when the course has none."""
    release = course / RELEASE / assignment_id
    if not release.exists():  # the gradebook registers the assignment from its release
        shutil.copytree(root / RELEASE / assignment_id, release)
    kinds = [("correct", None)] + list(MISTAKES.get(assignment_id, {}).items())
    written = []
    for n, (kind, change) in zip(range(1, students + 1), itertools.cycle(kinds)):
        folder = course / SUBMITTED / f"student{n:02d}-{kind}" / assignment_id
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{assignment_id}.ipynb"
        nbformat.write(answered(root, assignment_id, change), path)
        written.append(path)
    return written
