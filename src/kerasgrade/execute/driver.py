"""Stage 2: run a sanitized submission as a job of its runner (kerasgrade.jobs.runner): the
setup cell first, the student's cells, the export cell last, in the student's kernel.

What the export cell leaves is measured next, by another job (stage 3, kerasgrade.measure).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from kerasgrade import time_limit
from kerasgrade.artifacts import ARTIFACTS, EXECUTED, RUN_REPORT, SUBMISSION, read_json
from kerasgrade.course.assignments import Assignment
from kerasgrade.execute.kernel import setup_cell
from kerasgrade.execute.kernel.notebook_run import GRADER_CELL, READY, STARTED
from kerasgrade.jobs.options import ExecOptions
from kerasgrade.jobs.runner import Job, Runner
from kerasgrade.results import GraderFault
from kerasgrade.sandbox import SandboxRun

# What the grader reads from the runner's report, and the type each must have.
REPORT_TYPES: dict[str, type | tuple[type, ...]] = {
    "status": str, "reason": str, "errors": list, "cell_seconds": list, "timed_out": list,
    "kernel_start_seconds": (int, float)}


def export_source(spec: Assignment, artifacts: str) -> str:
    models = f", models={tuple(m.name for m in spec.models)!r}" if spec.models else ""
    return (
        "import kerasgrade.execute.kernel.export_cell as _kerasgrade_export\n"
        f"_kerasgrade_export.export_namespace(globals(), {artifacts!r}, "
        f"variables={spec.exported!r}, arrays={spec.arrays!r}{models})"
    )


def instrument(nb: Any, spec: Assignment, options: ExecOptions) -> Any:
    """A copy of the notebook with the setup cell first and the export cell last."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    nb.cells.insert(0, nbformat.v4.new_code_cell(setup_cell.source(
        options.seed, options.threads, options.fit_steps)))
    nb.cells.append(nbformat.v4.new_code_cell(export_source(spec, ARTIFACTS)))
    for cell in nb.cells:
        cell.pop("id", None)
        cell.metadata.pop(GRADER_CELL, None)  # only the grader's own cells carry the mark
    nb.cells[0].metadata[GRADER_CELL] = "setup"
    nb.cells[-1].metadata[GRADER_CELL] = "export"
    nb.nbformat_minor = 4  # ids dropped above: keep the file valid
    return nb


def _run_report(path: Path) -> dict[str, Any]:
    """The runner's report, or {} if a student process overwrote it with something else."""
    run = read_json(path)
    well_formed = (
        all(isinstance(run[k], t) for k, t in REPORT_TYPES.items() if k in run)
        and all(isinstance(s, (int, float)) for s in run.get("cell_seconds", []))
        and all(isinstance(e, dict) for e in run.get("errors", []))
        and all(time_limit.well_formed(c) for c in run.get("timed_out", []))
    )
    return run if well_formed else {}


@dataclass
class Execution:
    run: dict[str, Any]  # the runner's report: status, reason, errors, peak memory
    executed: Any  # the student's notebook with its outputs, grader cells removed; or None
    timings: dict[str, float]
    artifacts: Path | None  # what the export cell left for stage 3; None if nothing usable


def _phase_times(nb: Any, run: dict[str, Any]) -> dict[str, float]:
    """Split the kernel's time into phases by what each cell does."""
    times = {"kernel_start": run.get("kernel_start_seconds", 0.0), "imports": 0.0,
             "data": 0.0, "training": 0.0, "student_other": 0.0}
    for i, seconds in enumerate(run.get("cell_seconds", [])):
        src = nb.cells[i].source if i < len(nb.cells) else ""
        if i == 0:
            times["imports"] += seconds
        elif ".fit(" in src:
            times["training"] += seconds
        elif "load_data" in src or "load_mnist" in src or "load_fashion" in src:
            times["data"] += seconds
        elif i == len(nb.cells) - 1:
            times["export"] = seconds
        else:
            times["student_other"] += seconds
    return times


def execute(nb: Any, spec: Assignment, job: Job, runner: Runner) -> Execution:
    """Run an already sanitized notebook as the job, in the student's kernel; what its export
    cell leaves in artifacts/ is for stage 3."""
    instrumented = instrument(nb, spec, runner.options)
    nbformat.write(instrumented, job.folder / SUBMISSION)
    cell_timeout = runner.options.cell_timeout
    kernel = runner.run("notebook", [SUBMISSION, EXECUTED, RUN_REPORT, "--cell-timeout",
                                     str(cell_timeout), *(["--warm"] if runner.forks else [])],
                        job)
    # Only a runner that finished wrote run.json; otherwise any file there is the student's.
    run = _run_report(job.folder / RUN_REPORT) if kernel.status == "ok" else {}
    _raise_grader_fault(kernel, run)
    executed = _executed(job.folder / EXECUTED) if run else None
    if not run:
        run = {"status": "error" if kernel.status == "ok" else kernel.status,
               "reason": "the notebook's run left no readable report" if kernel.status == "ok"
               else kernel.reason}
    run["peak_rss_mb"] = kernel.peak_rss_mb
    artifacts = job.folder / ARTIFACTS
    # A link would lead the grader astray.
    usable = artifacts.is_dir() and not artifacts.is_symlink()
    return Execution(run, executed, _phase_times(instrumented, run),
                     artifacts if usable else None)


def _raise_grader_fault(kernel: SandboxRun, run: dict[str, Any]) -> None:
    """A run that failed before the student's first cell is the grader's failure, not the
    student's: the runner's first lines on stdout, written before any student code could
    run, say how far it got."""
    head = kernel.stdout_head.splitlines()
    if head[:1] != [STARTED]:
        raise GraderFault(f"the sandbox did not start the grader's runner ({kernel.reason}): "
                          f"{kernel.last_stderr_line()}", "sandbox")
    if READY not in head:  # so no student code ran, and run.json is the runner's own
        why = run.get("reason") or f"{kernel.reason}: {kernel.last_stderr_line()}"
        raise GraderFault(f"the kernel could not be set up: {why}", "kernel")


def _executed(path: Path) -> Any:
    """The runner's executed notebook without the grader's cells, or None if it is not a
    readable notebook (read as plain JSON, like every file the sandbox leaves)."""
    raw = read_json(path)
    try:
        nb = nbformat.from_dict(raw)
        nbformat.validate(nb)
    except (nbformat.ValidationError, AttributeError, TypeError, KeyError):
        return None
    nb.cells = [cell for cell in nb.cells if GRADER_CELL not in cell.get("metadata", {})]
    return nb
