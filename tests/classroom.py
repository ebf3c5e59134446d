"""A small class graded by `kerasgrade grade`, for the tests of batches and what reads them."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from nbfactory import write
from nbgrader.api import Gradebook

from kerasgrade.course.assignments import CONNECTED_NETWORKS
from kerasgrade.course.demo import MISTAKES, answered

REPO = Path(__file__).resolve().parents[1]


def load_script(path: Path) -> ModuleType:
    """A script of bench/ or scripts/ as a module, registered under its name: dataclasses look
    their module up by name, and a bench that imports another (`from grade_throughput import`)
    finds the one loaded."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


AID = CONNECTED_NETWORKS


EXPECTED = {"alice": 14.0, "bob": 11.0, "carol": 0.0}


def make_course(root: Path, students: tuple[str, ...] = ("alice", "bob", "carol")) -> Path:
    """A course folder: the released notebook and nbgrader's submitted/ layout."""
    release = root / "assignments" / AID
    release.mkdir(parents=True)
    shutil.copy(REPO / "assignments" / AID / f"{AID}.ipynb", release)
    notebooks = {"alice": answered(REPO, AID), "bob": answered(REPO, AID, MISTAKES[AID]["dense32"])}
    for student in students:
        path = root / "submitted" / student / AID / f"{AID}.ipynb"
        if student in notebooks:
            write(notebooks[student], path)
        else:
            path.parent.mkdir(parents=True)
            path.write_text('{"cells": [')  # a notebook cut off mid-upload
    return root


def grade(root: Path, *extra: str, env: dict[str, str] | None = None
          ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kerasgrade", "grade", AID, "--root",
                           str(root), *extra], capture_output=True, text=True, timeout=900,
                          env=env)


def state(root: Path, student: str) -> Path:
    return root / ".kerasgrade" / "results" / AID / f"{student}.json"


def gradebook_scores(root: Path) -> dict[str, float]:
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        return {s.student.id: s.score for s in gb.assignment_submissions(AID)}
