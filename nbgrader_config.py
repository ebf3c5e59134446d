"""nbgrader settings for this course. Run nbgrader from this folder, the repository root.

Master notebooks live in source/<assignment>/, released student notebooks in
assignments/<assignment>/ (`python -m kerasgrade.course` regenerates them). Every number
below can be overridden by an environment variable, so a grading machine can adapt
without editing this file.
"""

import importlib.util
import os
import sys
from pathlib import Path

from nbgrader.converters import Autograde, GenerateFeedback
from nbgrader.preprocessors import Execute

c = get_config()  # noqa: F821  (traitlets provides get_config when it loads this file)

ROOT = Path(__file__).resolve().parent

c.CourseDirectory.root = str(ROOT)
c.CourseDirectory.course_id = "kerasgrade"
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "assignments"
# Never release a model a teacher saved while running a master notebook, nor checkpoints.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback",
                            "*.keras", "*.h5"]

c.Execute.startup_timeout = int(os.environ.get("KERASGRADE_KERNEL_STARTUP_TIMEOUT", "120"))

# Kernels that nbgrader starts inherit this process's environment. nbgrader gives a test
# cell no points when it writes to stderr: keep TensorFlow's C++ log quiet (setdefault,
# so a grader's own value wins). The hidden test cells themselves never write to stderr.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# The notebooks import kerasgrade, and so does nbgrader here; from a plain clone (not
# pip-installed) use src/.
if importlib.util.find_spec("kerasgrade") is None:
    sys.path.insert(0, str(ROOT / "src"))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p
    )

# The cell limit of `kerasgrade grade` and `pytest autograder/` (from the reference solution's
# measured time, or KERASGRADE_CELL_TIMEOUT: kerasgrade.course.time_limits): for the
# assignment named on nbgrader's command line, else the largest (nbgrader's default of 30 s
# would cut training off).
from kerasgrade.course.assignments import ASSIGNMENTS  # noqa: E402  (after the path)
from kerasgrade.course.build import is_test_cell  # noqa: E402
from kerasgrade.course.time_limits import time_limits  # noqa: E402
from kerasgrade.frontends import own_scripts_on_path  # noqa: E402

# nbgrader runs `alembic` from PATH to create the gradebook: from a virtual environment that is
# not activated (`~/venv/bin/nbgrader ...`), that must be this environment's.
own_scripts_on_path()

_named = [a for a in ASSIGNMENTS if any(a in arg for arg in sys.argv[1:])]
_limits = [time_limits(a) for a in _named or ASSIGNMENTS]
c.Execute.timeout = int(max(limit.cell for limit in _limits))
# A test cell is the grader's own check, measuring the model in a subprocess: like the
# grader's cells in `kerasgrade grade`, it is bounded by the notebook's limit, not a cell's.
_test_cell_timeout = int(max(limit.notebook for limit in _limits))
c.Execute.timeout_func = lambda cell: (_test_cell_timeout if is_test_cell(cell)
                                       else c.Execute.timeout)

# generate_feedback: nbgrader's preprocessors, then the kerasgrade report (checks, layer
# table, plots) at the top of each student's page, from the facts the hidden cells measured.
from kerasgrade.nbgrader_plugins import (  # noqa: E402
    GraderFaults,
    InertOutputs,
    KerasgradeReport,
    TimedOutCells,
)

c.GenerateFeedback.preprocessors = [
    *GenerateFeedback.class_traits()["preprocessors"].default(), InertOutputs, KerasgradeReport,
]
# Right after Execute: a hidden cell whose measuring failed (the grader's fault) fails the
# submission, so nbgrader saves no score for it; then the checks that failed after a cell
# stopped at the time limit say so, not their usual advice. Last: what a student's code
# output (HTML, Javascript, SVG...) or markdown holds must not run as script where the
# formgrader or the feedback shows it: autograded/ keeps only text and images.
_autograde = Autograde.class_traits()["autograde_preprocessors"].default()
_executed = _autograde.index(Execute) + 1
c.Autograde.autograde_preprocessors = [
    *_autograde[:_executed], GraderFaults, TimedOutCells, *_autograde[_executed:], InertOutputs,
]

# KERASGRADE_NBGRADER_SANDBOX=1: every notebook runs in the bubblewrap sandbox, in the
# kerasgrade-sandboxed kernel (`kerasgrade kernel install` first). See README, Security model.
SANDBOXED = os.environ.get("KERASGRADE_NBGRADER_SANDBOX") or "0"
if SANDBOXED not in ("0", "1"):  # a misspelt "yes" must not mean unsandboxed
    raise SystemExit(f"KERASGRADE_NBGRADER_SANDBOX must be 1 or 0, not {SANDBOXED!r}")
if SANDBOXED == "1":
    try:
        from kerasgrade.frontends.nbgrader.kernel import configure

        configure(c, ROOT)
    except Exception as exc:
        # traitlets would log an exception and go on without this file, that is unsandboxed.
        raise SystemExit(
            f"KERASGRADE_NBGRADER_SANDBOX=1, but nbgrader cannot run notebooks sandboxed: {exc} "
            "(without that variable, nbgrader runs them unsandboxed: only for code you trust)"
        ) from exc
