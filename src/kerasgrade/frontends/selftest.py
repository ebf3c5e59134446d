"""Before anything is graded: a short proof that the grading environment works here.

A batch (`kerasgrade grade`) and `pytest autograder/` first run one tiny notebook through the
path every submission takes: the sandbox starts the grader's interpreter with the package, a
kernel starts, its setup cell imports TensorFlow, the notebook loads the assignment's data
the way students do (served offline), and the measuring process reads what it exported. If a
step fails, grading stops before anything is recorded, with the fault and its fix: a grader
that cannot run must not score every student 0.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import nbformat

from kerasgrade.course.assignments import Assignment
from kerasgrade.grade import grade_notebook
from kerasgrade.jobs.options import ExecOptions
from kerasgrade.results import GraderFault
from kerasgrade.sandbox import Limits

FIXES = {
    "sandbox": "the sandbox must be able to run {python} with kerasgrade importable: install "
               "kerasgrade into that environment, and check that bubblewrap works here",
    "kernel": "install TensorFlow, Keras and ipykernel into the environment of {python}, and "
              "make sure `import tensorflow` works there",
    "data": "give the grader its data where the sandbox can read it: `kerasgrade data fetch "
            "--dest DIR`, then set KERASGRADE_DATA_DIR=DIR",
    "measure": "this is a fault of the grader's measuring process "
                 "(kerasgrade.measure.process); run it by hand to see its traceback",
}


class SelfTestFailed(RuntimeError):
    """Grading cannot work here: the message names the fault and the fix."""


def check(specs: Iterable[Assignment], options: ExecOptions) -> None:
    """Raise SelfTestFailed unless a kernel in the sandbox can grade these assignments."""
    chosen = list(specs)
    ids = list(dict.fromkeys(spec.id for spec in chosen))
    if not ids:
        return
    datasets = sorted({spec.dataset for spec in chosen})
    loads = "\n".join(f"keras.datasets.{name.replace('-', '_')}.load_data()" for name in datasets)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f"import keras\n{loads}")])
    # Short limits: a healthy machine needs seconds; a hung one must not stall the batch.
    options = replace(options, cell_timeout=120,
                      limits=replace(options.limits or Limits(), wall_seconds=300))
    with tempfile.TemporaryDirectory(prefix="kerasgrade-selftest-") as tmp:
        path = Path(tmp) / "selftest.ipynb"
        nbformat.write(nb, path)
        try:
            facts = grade_notebook(path, chosen[0], options=options,
                                   workdir=Path(tmp) / "work").facts
        except GraderFault as fault:
            raise _failed(str(fault), fault.stage) from None
    execution = facts.get("execution", {})
    errors = execution.get("errors") or []
    if errors or execution.get("status") != "ok":
        what = (f"{errors[0].get('ename')}: {errors[0].get('evalue')}" if errors
                else execution.get("reason", "the run did not finish"))
        raise _failed(f"loading {', '.join(datasets)} in a sandboxed kernel failed: {what}",
                      "data")


def _failed(fault: str, stage: str) -> SelfTestFailed:
    fix = FIXES[stage].format(python=sys.executable)
    return SelfTestFailed(f"the grader's self-test failed, nothing was graded: {fault}. "
                          f"To fix: {fix}.")
