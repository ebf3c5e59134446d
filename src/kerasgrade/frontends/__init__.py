"""The ways in: the command line, pytest autograder/, batches, nbgrader and Gradescope."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from kerasgrade.course import assignments
from kerasgrade.course.assignments import Assignment


def assignment(assignment_id: str) -> Assignment:
    """The assignment an id names, as a person or nbgrader gave it (a command's argument, a
    hidden cell, a facts bundle): every front end looks ids up here. KeyError names the ids
    there are."""
    spec = assignments.ASSIGNMENTS.get(assignment_id)
    if spec is None:
        raise KeyError(f"unknown assignment {assignment_id!r}; known: "
                       f"{', '.join(assignments.ASSIGNMENTS)}")
    return spec


def own_scripts_on_path() -> None:
    """Put this interpreter's scripts folder first on PATH, for the programs it starts.

    nbgrader's Gradebook runs `alembic` from PATH when it creates a gradebook. Run from a
    virtual environment that is not activated (`~/venv/bin/kerasgrade grade`, a service's
    command line, cron), PATH holds another environment's `alembic` or none, and nbgrader
    stops with a traceback.
    """
    scripts = str(Path(sys.executable).parent)
    entries = os.environ.get("PATH", "").split(os.pathsep)
    if entries[:1] != [scripts]:
        os.environ["PATH"] = os.pathsep.join([scripts, *(e for e in entries if e != scripts)])
