"""What the hidden test cells of the nbgrader notebooks call.

`run_check(assignment, check, globals())` exports the student's objects, has them measured
by the clean measuring process as every front end does (kerasgrade.measure.client, a cold job:
a sandbox of its own where bubblewrap can start from the kernel, else the limits and the
watchdog alone) and runs the same check function as `pytest autograder/`, so the two front
ends cannot disagree. It never writes to stderr: nbgrader would mark the cell wrong for it.

A measuring process that fails is the grader's fault, not the student's: the cell ends in a
GraderFault, and nbgrader_config.py's GraderFaults step then fails the whole submission in
`nbgrader autograde` (no score is saved; nbgrader names it and exits non-zero).

A failed check ends the cell with its teaching message alone, no traceback (CheckFailed;
nbgrader scores a cell that ends in an error 0). The first hidden cell also leaves the
measured facts in its output, under FACTS_MIME, for `nbgrader generate_feedback` (see
frontends/nbgrader/feedback.py).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kerasgrade import checks, sandbox
from kerasgrade.artifacts import Facts, facts_bundle
from kerasgrade.course.assignments import Assignment
from kerasgrade.course.layout import AUTOGRADED, course_root, private_paths
from kerasgrade.data import share
from kerasgrade.frontends import assignment as named
from kerasgrade.jobs.options import ExecOptions, with_limits
from kerasgrade.jobs.runner import Cold
from kerasgrade.measure import client
from kerasgrade.results import CheckFailed, GraderFault

# What each notebook run measured, or the fault that stopped it (raised again, not retried).
_FACTS: dict[tuple[str, tuple[int, ...], str], Facts | GraderFault] = {}


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


def namespace_facts(spec: Assignment, namespace: dict[str, Any]) -> Facts:
    """Facts about the student's work, measured once per notebook run."""
    from kerasgrade.execute.kernel.export_cell import export_namespace

    assignment_id = spec.id
    # Measured again when any model variable names another object (a re-run notebook).
    models = tuple(m.name for m in spec.models)
    key = (assignment_id, tuple(id(namespace.get(n)) for n in ("model", *models)), os.getcwd())
    if isinstance(known := _FACTS.get(key), GraderFault):
        raise known
    if known is not None:
        return known
    with tempfile.TemporaryDirectory(prefix="kerasgrade-nb-") as tmp:
        artifacts = Path(tmp) / "artifacts"
        export_namespace(namespace, artifacts,
                         variables=spec.exported,
                         arrays=spec.arrays, workdir=".", models=models)
        with sandbox.claim_slot() as slot:  # a uid no concurrent grading shares
            options = ExecOptions(
                # Inside the kerasgrade-sandboxed kernel no second sandbox can start: the
                # kernel's own holds the process.
                sandbox=not sandbox.unavailable_reason(), slot=slot,
                hide=private_paths(_course()),
                # The data the kernel finds (its Keras cache too), decoded once per machine.
                shared_data=share([spec.dataset]))
            runner = Cold(with_limits(options, spec), Path(tmp))
            try:
                facts = client.measurement(artifacts, spec, runner).facts
            except GraderFault as fault:
                _FACTS[key] = fault
                raise
    facts.setdefault("execution", {})
    _FACTS[key] = facts
    _leave_in_output(assignment_id, facts)
    return facts


def _course() -> Path:
    """The course being graded: nbgrader runs its kernels in
    <course>/autograded/<student>/<assignment>/."""
    here = Path.cwd().resolve()
    if len(here.parents) > 2 and here.parents[1].name == AUTOGRADED:
        return here.parents[2]
    return course_root()


def _leave_in_output(assignment_id: str, facts: Facts) -> None:
    """Put the facts in the running cell's output, where generate_feedback finds them."""
    from IPython import get_ipython
    from IPython.display import display

    if get_ipython() is None:  # not in a kernel: there is no cell output
        return
    display(facts_bundle(assignment_id, facts), raw=True)


def run_check(assignment_id: str, check_name: str, namespace: dict[str, Any]) -> None:
    with _quiet_stderr():
        spec = named(assignment_id)
        result = checks.run_one(spec, check_name, namespace_facts(spec, namespace))
    if result.passed:
        print(result.line())
        return
    raise CheckFailed(result.line())
