"""Run a submission: inject the setup and export cells, execute in the sandbox, measure.

Two sandboxed processes per submission: the student's kernel (through the runner), then a
clean process that loads only the exported artifacts and measures them (kerasgrade.measure.client).
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from kerasgrade import sandbox as sandboxing
from kerasgrade.artifacts import (
    ARTIFACTS,
    EXECUTED,
    FACTS_FILE,
    RUN_REPORT,
    SUBMISSION,
    Facts,
    read_json,
)
from kerasgrade.course import assignments
from kerasgrade.execute.kernel import setup_cell
from kerasgrade.execute.kernel.runner import GRADER_CELL, READY, STARTED
from kerasgrade.jobs import warm
from kerasgrade.jobs.options import ExecOptions, with_limits
from kerasgrade.measure import client
from kerasgrade.measure.process import NO_DATA
from kerasgrade.results import GraderFault
from kerasgrade.sandbox.policy import sandbox_env, shown_paths

# What the grader reads from the runner's report, and the type each must have.
REPORT_TYPES = {"status": str, "reason": str, "errors": list, "cell_seconds": list,
                "kernel_start_seconds": (int, float)}


def export_source(assignment_id: str, artifacts: str) -> str:
    spec = assignments.get(assignment_id)
    models = f", models={tuple(m.name for m in spec.models)!r}" if spec.models else ""
    return (
        "import kerasgrade.execute.kernel.export_cell as _kerasgrade_export\n"
        f"_kerasgrade_export.export_namespace(globals(), {artifacts!r}, "
        f"variables={spec.exported!r}, arrays={spec.arrays!r}{models})"
    )


def instrument(nb: Any, assignment_id: str, options: ExecOptions) -> Any:
    """A copy of the notebook with the setup cell first and the export cell last."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    nb.cells.insert(0, nbformat.v4.new_code_cell(setup_cell.source(options.seed,
                                                                     options.threads)))
    nb.cells.append(nbformat.v4.new_code_cell(export_source(assignment_id, ARTIFACTS)))
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
    )
    return run if well_formed else {}


@dataclass
class Execution:
    facts: Facts
    executed: Any  # the student's notebook with its outputs, grader cells removed; or None
    timings: dict[str, float]


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


def execute(nb: Any, assignment_id: str, workdir: Path, options: ExecOptions) -> Execution:
    """Execute an already sanitized notebook; return the measured facts."""
    options = with_limits(options, assignment_id)
    if options.warm:
        zygote = warm.zygote_for(options)
        scratch = zygote.job_dir("notebook")
        try:
            return _execute(nb, assignment_id, scratch, options, zygote)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    scratch = workdir / "scratch"
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    return _execute(nb, assignment_id, scratch, options, None)


def _execute(nb: Any, assignment_id: str, scratch: Path, options: ExecOptions,
             zygote: warm.Zygote | None) -> Execution:
    instrumented = instrument(nb, assignment_id, options)
    nbformat.write(instrumented, scratch / SUBMISSION)
    if zygote is not None:
        env, shown = zygote.job_env(scratch), zygote.shown
    else:
        env = sandbox_env(scratch, options.threads, options.data_dir)
        shown = shown_paths(env)
    run_args = [SUBMISSION, EXECUTED, RUN_REPORT, "--cell-timeout", str(options.cell_timeout)]
    assert options.limits is not None
    if zygote is not None:
        kernel = zygote.run("runner", [*run_args, "--warm"], scratch, env, options.limits)
    else:
        kernel = sandboxing.run([sys.executable, "-m", "kerasgrade.execute.kernel.runner",
                                 *run_args], scratch=scratch, hide=options.hide, env=env,
                                readonly_binds=shown, limits=options.limits,
                                slot=options.slot, enabled=options.sandbox)
    # Only a runner that finished wrote run.json; otherwise any file there is the student's.
    run = _run_report(scratch / RUN_REPORT) if kernel.status == "ok" else {}
    _raise_grader_fault(kernel, run)
    executed = _executed(scratch / EXECUTED) if run else None
    if not run:
        run = {"status": "error" if kernel.status == "ok" else kernel.status,
               "reason": "the notebook's run left no readable report" if kernel.status == "ok"
               else kernel.reason}
    run["peak_rss_mb"] = kernel.peak_rss_mb
    timings = _phase_times(instrumented, run)

    artifacts = scratch / ARTIFACTS
    # Any: facts.json is what measure() wrote as Facts, but read_json knows only JSON objects.
    facts: Any = {}
    if artifacts.is_dir() and not artifacts.is_symlink():  # a link would lead the grader astray
        # The student's code could have left a facts.json there: only the grader's own counts.
        (artifacts / FACTS_FILE).unlink(missing_ok=True)
        measured = client.measure(artifacts, assignment_id, scratch, env, shown, options)
        timings["checks"] = measured.seconds
        facts = read_json(artifacts / FACTS_FILE)
        if measured.status == "refused":
            run["reason"] = f"the notebook left files the grader will not read: {measured.reason}"
        elif measured.status != "ok" or not facts:
            # It ran no student code and reads the artifacts as data: its failure is ours.
            if measured.returncode == NO_DATA:
                raise GraderFault(f"the grader's data is not available in the sandbox: "
                                  f"{_last_line(measured.stderr)}", "data")
            raise GraderFault(f"the measuring process failed ({measured.reason}): "
                              f"{_last_line(measured.stderr)}", "measure")
    facts["execution"] = {k: v for k, v in run.items() if k != "cell_seconds"}
    return Execution(facts, executed, timings)


def _raise_grader_fault(kernel: sandboxing.SandboxRun, run: dict[str, Any]) -> None:
    """A run that failed before the student's first cell is the grader's failure, not the
    student's: the runner's first lines on stdout, written before any student code could
    run, say how far it got."""
    head = kernel.stdout_head.splitlines()
    if head[:1] != [STARTED]:
        raise GraderFault(f"the sandbox did not start the grader's runner ({kernel.reason}): "
                          f"{_last_line(kernel.stderr)}", "sandbox")
    if READY not in head:  # so no student code ran, and run.json is the runner's own
        why = run.get("reason") or f"{kernel.reason}: {_last_line(kernel.stderr)}"
        raise GraderFault(f"the kernel could not be set up: {why}", "kernel")


def _last_line(text: str) -> str:
    """The last line of a traceback says what went wrong; the rest is the grader's code."""
    return next((line for line in reversed(text.splitlines()) if line.strip()), "")[:1000]


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
