"""Build the course from its master notebooks, and tell whether the built files are current.

source/<id>/<id>.ipynb      master notebook (nbgrader metadata, solutions, hidden tests)
assignments/<id>/           what students get: nbgrader's own generate_assignment output
solutions/<id>/<id>.ipynb   the master with solution code, executed, outputs kept

A solution keeps the hidden-test cells: `nbgrader validate` then runs the real graded
checks on it and proves the reference solution earns every point. They hold no secret
(each calls `run_check`; the checks themselves live in the package), and solutions/ is
for teachers. The `### BEGIN/END` marker lines are dropped so that it reads as a
finished notebook.

    python -m kerasgrade.course build [ROOT] [ID ...]  regenerate assignments/ and solutions/
                                             (every assignment's, or those of the ids given)
    python -m kerasgrade.course check [ROOT]   list what differs from source/ (exit 1 if any)
    python -m kerasgrade.course time ID [ROOT] execute one solution to record its times only
"""

from __future__ import annotations

import copy
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbformat import NotebookNode

import kerasgrade
from kerasgrade import environment
from kerasgrade.course import assignments, time_limits
from kerasgrade.course.layout import RELEASE, SOLUTIONS, SOURCE, notebook_path
from kerasgrade.keras_terms import quiet_tensorflow

MARKERS = frozenset(
    {"### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"}
)
# Training 03 takes minutes on two cores; a stuck cell should still end the build.
CELL_TIMEOUT = int(os.environ.get(environment.CELL_TIMEOUT, "1800"))
# Metadata that executing a notebook adds or rewrites, which says nothing about its source.
VOLATILE_CELL_METADATA = ("execution", "collapsed", "scrolled")
VOLATILE_NB_METADATA = ("language_info", "widgets")


def assignment_ids() -> list[str]:
    return list(assignments.ASSIGNMENTS)



def build(root: Path, only: list[str] | None = None) -> None:
    """Regenerate assignments/ and solutions/ from source/ (executes every solution), of every
    assignment or of those in `only`."""
    root = Path(root).resolve()
    for aid in only or assignment_ids():
        release = root / RELEASE / aid
        shutil.rmtree(release, ignore_errors=True)  # so files removed from source go too
        generate_assignment(root, aid, root / RELEASE)
        cell, notebook = write_solution(root, aid, root / SOLUTIONS)
        print(record_reference_time(aid, cell, notebook), flush=True)


def generate_assignment(root: Path, assignment_id: str, release_dir: Path) -> None:
    """nbgrader's own generate_assignment, run from the root so nbgrader_config.py applies.

    --no-db: releasing needs no gradebook, and the build leaves none behind; grading
    creates its own.
    """
    subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_assignment", assignment_id, "--force",
         "--no-db", "--log-level=WARN",
         f"--CourseDirectory.release_directory={Path(release_dir).resolve()}"],
        cwd=root, check=True, env=kernel_env(),
    )


def solution_notebook(master: NotebookNode) -> NotebookNode:
    """The master notebook as a finished one: solutions and hidden tests kept, markers gone."""
    nb = copy.deepcopy(master)
    for cell in nb.cells:
        if cell.cell_type == "code":
            lines = cell.source.splitlines()
            cell.source = "\n".join(line for line in lines if line.strip() not in MARKERS)
            cell.outputs = []
            cell.execution_count = None
    return nb


def write_solution(root: Path, assignment_id: str, solutions_dir: Path) -> tuple[float, float]:
    """Execute the solution into solutions_dir; its slowest cell's and whole run's seconds."""
    master = nbformat.read(notebook_path(root / SOURCE, assignment_id), as_version=4)
    nb, cell, notebook = execute(solution_notebook(master))
    out = notebook_path(solutions_dir, assignment_id)
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out)
    return cell, notebook


def kernel_env() -> dict[str, str]:
    """The environment for nbgrader and kernels: this kerasgrade, and TensorFlow quiet."""
    env = dict(os.environ)
    quiet_tensorflow(env)
    package_parent = str(Path(kerasgrade.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    return env


def execute(nb: NotebookNode, timeout: int = CELL_TIMEOUT) -> tuple[NotebookNode, float, float]:
    """Run a notebook top to bottom in a fresh kernel, in a scratch folder; also return its
    slowest cell's (test cells aside) and its whole run's seconds (kernel start included).

    The scratch folder takes the files a notebook writes (saved models), so they never land
    next to the committed notebooks. A failing cell stops execution with an error.
    """
    started: dict[int, float] = {}
    slowest = 0.0

    def cell_started(cell: Any, cell_index: int) -> None:
        started[cell_index] = time.monotonic()

    def cell_done(cell: Any, cell_index: int, execute_reply: Any) -> None:
        nonlocal slowest
        if not is_test_cell(cell):  # the grader's checks: they count in the whole run only
            slowest = max(slowest, time.monotonic() - started[cell_index])

    with tempfile.TemporaryDirectory(prefix="kerasgrade-solution-") as workdir:
        client = NotebookClient(
            nb, timeout=timeout, kernel_name="python3", record_timing=False,
            resources={"metadata": {"path": workdir}},
            on_cell_execute=cell_started, on_cell_executed=cell_done,
        )
        begin = time.monotonic()
        client.execute(env=kernel_env())
    return nb, slowest, time.monotonic() - begin


def is_test_cell(cell: Any) -> bool:
    """An nbgrader test cell: the grader's check (it measures the model in a subprocess)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution")


def record_reference_time(assignment_id: str, cell: float, notebook: float) -> str:
    """Record a reference run's times under the data source this machine serves (the
    kernel that ran it had the same environment): the basis of the time limits."""
    from kerasgrade import data

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source = data.load(assignments.get(assignment_id).dataset).source
    time_limits.record_time(assignment_id, source, cell, notebook)
    limits = time_limits.source_limits(assignment_id)
    return (f"{assignment_id} on {source}: slowest cell {cell:.1f} s, whole run {notebook:.1f} "
            f"s; limits now {limits.cell:g} s per cell, {limits.notebook:g} s per notebook")


def time_reference(root: Path, assignment_id: str) -> str:
    """Execute the reference solution only to record its times (nothing else is written)."""
    master = nbformat.read(notebook_path(root / SOURCE, assignment_id), as_version=4)
    _, cell, notebook = execute(solution_notebook(master))
    return record_reference_time(assignment_id, cell, notebook)


# ---------------------------------------------------------------------------------------
# Is what is committed what source/ gives?


def _cells(nb: NotebookNode) -> list[dict[str, Any]]:
    out = []
    for cell in nb.cells:
        meta = {k: v for k, v in cell.metadata.items() if k not in VOLATILE_CELL_METADATA}
        out.append({"id": cell.get("id"), "cell_type": cell.cell_type, "source": cell.source,
                    "metadata": meta})
    return out


def _nb_metadata(nb: NotebookNode) -> dict[str, Any]:
    return {k: v for k, v in nb.metadata.items() if k not in VOLATILE_NB_METADATA}


def compare_notebooks(expected: NotebookNode, found: NotebookNode, label: str) -> list[str]:
    """Differences in cells (type, id, source, metadata) and notebook metadata; no outputs."""
    diffs = []
    if _nb_metadata(expected) != _nb_metadata(found):
        diffs.append(f"{label}: notebook metadata differs")
    want, got = _cells(expected), _cells(found)
    if len(want) != len(got):
        diffs.append(f"{label}: {len(got)} cells, expected {len(want)}")
    for i, (w, g) in enumerate(zip(want, got)):
        for key in ("id", "cell_type", "source", "metadata"):
            if w[key] != g[key]:
                diffs.append(f"{label}: cell {i} ({w['id']}) differs in {key}")
    return diffs


def _check_release(expected_dir: Path, found_dir: Path, label: str) -> list[str]:
    want = {p.relative_to(expected_dir) for p in expected_dir.rglob("*") if p.is_file()}
    got = {p.relative_to(found_dir) for p in found_dir.rglob("*") if p.is_file()}
    diffs = [f"{label}/{p}: missing" for p in sorted(want - got)]
    diffs += [f"{label}/{p}: not generated from source/" for p in sorted(got - want)]
    for rel in sorted(want & got):
        if rel.suffix == ".ipynb":
            diffs += compare_notebooks(
                nbformat.read(expected_dir / rel, as_version=4),
                nbformat.read(found_dir / rel, as_version=4),
                f"{label}/{rel}",
            )
        elif not filecmp.cmp(expected_dir / rel, found_dir / rel, shallow=False):
            diffs.append(f"{label}/{rel}: content differs")
    return diffs


def _check_solution(root: Path, assignment_id: str) -> list[str]:
    label = f"solutions/{assignment_id}/{assignment_id}.ipynb"
    path = notebook_path(root / SOLUTIONS, assignment_id)
    if not path.exists():
        return [f"{label}: missing"]
    master = nbformat.read(notebook_path(root / SOURCE, assignment_id), as_version=4)
    found = nbformat.read(path, as_version=4)
    diffs = compare_notebooks(solution_notebook(master), found, label)
    for cell in found.cells:
        if cell.cell_type != "code":
            continue
        if cell.execution_count is None:
            diffs.append(f"{label}: cell {cell.get('id')} was not executed")
        if any(o.output_type == "error" for o in cell.outputs):
            diffs.append(f"{label}: cell {cell.get('id')} raised an error")
    return diffs


def check_up_to_date(root: Path) -> list[str]:
    """What in assignments/ and solutions/ differs from what source/ gives; [] when current.

    assignments/ is regenerated with nbgrader into a scratch folder and compared cell by
    cell. Solutions are not re-executed (03 trains for minutes): their cells must be the
    master's, and each code cell must have run without an error. Outputs, execution
    counts and timings are not compared: training progress differs from run to run.
    """
    root = Path(root).resolve()
    diffs = []
    with tempfile.TemporaryDirectory(prefix="kerasgrade-release-") as tmp:
        for aid in assignment_ids():
            generate_assignment(root, aid, Path(tmp))
            found = root / RELEASE / aid
            if not found.is_dir():
                diffs.append(f"assignments/{aid}: missing")
                continue
            diffs += _check_release(Path(tmp) / aid, found, f"assignments/{aid}")
    for aid in assignment_ids():
        diffs += _check_solution(root, aid)
    return diffs


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["time"] and len(args) in (2, 3):
        print(time_reference(Path(args[2] if len(args) > 2 else "."), args[1]))
        return 0
    unknown = [a for a in args[2:] if a not in assignments.ASSIGNMENTS]
    if (not args or args[0] not in ("build", "check") or unknown
            or (args[0] == "check" and len(args) > 2)):
        print(__doc__.split("\n\n")[-1], file=sys.stderr)
        return 2
    root = Path(args[1] if len(args) > 1 else ".")
    if args[0] == "build":
        build(root, args[2:])
        return 0
    diffs = check_up_to_date(root)
    for line in diffs:
        print(line)
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
