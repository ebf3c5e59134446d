"""What the hidden test cells of the nbgrader notebooks call.

`run_check(assignment, check, globals())` exports the student's objects, measures them
in a clean subprocess (kerasgrade.measure.process, as the batch grader does, but started from
the kernel with its environment and not sandboxed anew) and runs the same
check function as `pytest autograder/`, so the two front ends cannot disagree.
It never writes to stderr: nbgrader would mark the cell wrong for it.

A failed check ends the cell with its teaching message alone, no traceback (CheckFailed;
nbgrader scores a cell that ends in an error 0). The first hidden cell also leaves the
measured facts in its output, under FACTS_MIME, for `nbgrader generate_feedback` (see
nbgrader_feedback).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kerasgrade import checks
from kerasgrade.artifacts import FACTS_FILE, Facts, facts_bundle
from kerasgrade.course import assignments
from kerasgrade.course.time_limits import time_limits
from kerasgrade.keras_terms import quiet_tensorflow
from kerasgrade.results import CheckFailed

_FACTS: dict[tuple[str, tuple[int, ...], str], Facts] = {}


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence Python and C-level stderr (TensorFlow logs through file descriptor 2)."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        with warnings.catch_warnings(), open(os.devnull, "w") as sink, \
                contextlib.redirect_stderr(sink):
            warnings.simplefilter("ignore")
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def measure(assignment_id: str, namespace: dict[str, Any]) -> Facts:
    """Facts about the student's work, measured once per notebook run."""
    from kerasgrade.execute.kernel.export_cell import export_namespace

    spec = assignments.get(assignment_id)
    # Measured again when any model variable names another object (a re-run notebook).
    models = tuple(m.name for m in spec.models)
    key = (assignment_id, tuple(id(namespace.get(n)) for n in ("model", *models)), os.getcwd())
    if key in _FACTS:
        return _FACTS[key]
    with tempfile.TemporaryDirectory(prefix="kerasgrade-nb-") as tmp:
        artifacts = Path(tmp) / "artifacts"
        export_namespace(namespace, artifacts,
                         variables=spec.exported,
                         arrays=spec.arrays, workdir=".", models=models)
        env = quiet_tensorflow(dict(os.environ, KERASGRADE_OFFLINE="1"))
        proc = subprocess.run(
            [sys.executable, "-m", "kerasgrade.measure.process", str(artifacts), assignment_id],
            capture_output=True, text=True, env=env,
            timeout=time_limits(assignment_id).notebook,
        )
        facts_file = artifacts / FACTS_FILE
        if facts_file.exists():
            facts = json.loads(facts_file.read_text())
        else:
            tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
            facts = {"execution": {"reason": f"the grader could not measure the model: {tail[0]}"}}
    facts.setdefault("execution", {})
    _FACTS[key] = facts
    _leave_in_output(assignment_id, facts)
    return facts


def _leave_in_output(assignment_id: str, facts: Facts) -> None:
    """Put the facts in the running cell's output, where generate_feedback finds them."""
    from IPython import get_ipython
    from IPython.display import display

    if get_ipython() is None:  # not in a kernel: there is no cell output
        return
    display(facts_bundle(assignment_id, facts), raw=True)


def run_check(assignment_id: str, check_name: str, namespace: dict[str, Any]) -> None:
    with _quiet_stderr():
        facts = measure(assignment_id, namespace)
        result = checks.run_one(assignment_id, check_name, facts)
    if result.passed:
        print(result.line())
        return
    raise CheckFailed(result.line())
