"""Grading throughput: sequential `nbgrader autograde` against `kerasgrade grade --workers N`.

    python bench/grade_throughput.py [--students 13] [--workers 2 1] [--keep DIR]

Builds one class of real 02-connected-networks submissions (the released notebook with the
solutions filled in, as students write them, and realistic mistakes), then grades copies of
the same course folder side by side in one run: with nbgrader's own autograder (the hidden
test cells call kerasgrade's checks), and with `kerasgrade grade` for each --workers value.
Scores are read back from each run's nbgrader gradebook.

Per run it prints submissions per minute, peak memory per worker, the mean time per phase
of one submission and the overhead: the share of a submission's time that is not the
student's training. Peak memory is sampled from outside (PSS of each worker's process tree:
the worker, its sandboxed kernel and its inspection process), and also computed from the
results (kernel peak + the worker's own peak RSS). Each run also states how many cores'
worth of CPU two busy processes got just before it: the machine may be shared, and a
speedup from parallel workers needs cores nobody else is using. The last line is
    speedup_vs_nbgrader: X.XX identical_scores: yes|no
for the first --workers value against nbgrader.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import nbformat
import psutil
from nbgrader.api import Gradebook

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "02-connected-networks"
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
PHASES = ("kernel_start", "imports", "data", "training", "student_other", "export", "checks",
          "other")
# Reading a TensorFlow process's PSS costs ~13 ms of CPU: sample seldom, so that measuring
# does not slow what it measures (the results carry the sandbox's own 0.1 s samples).
SAMPLE_SECONDS = 2.0
MIB = 2**20

# name, replacements in the answer cells, answer cells left as released, expected score
CLASS: list[tuple[str, dict[str, str], tuple[str, ...], float]] = [
    ("solution", {}, (), 14),
    ("single_quotes", {'"': "'"}, (), 14),
    ("quiet_training", {"verbose=2": "verbose=0"}, (), 14),
    ("h5_file", {"my_model.keras": "my_model.h5"}, (), 14),
    ("explicit_batch", {"shuffle=True": "shuffle=True, batch_size=32"}, (), 14),
    ("dense_32", {"Dense(16,": "Dense(32,"}, (), 11),
    ("extra_hidden_layer", {'model.add(Dense(16, activation="relu"))':
                            'model.add(Dense(16, activation="relu"))\n'
                            'model.add(Dense(16, activation="relu"))'}, (), 9),
    ("no_softmax", {'Dense(10, activation="softmax")': "Dense(10)"}, (), 9),
    ("not_saved", {'model.save("my_model.keras")': "# saved on my laptop"}, (), 12),
    ("no_evaluate", {}, ("todo_evaluate",), 13),
    ("sgd_optimizer", {'optimizer="adam"': 'optimizer="sgd"'}, (), 12),
    ("blank", {}, ("*",), 0),
    ("broken_file", {}, (), 0),  # not JSON: both graders must give 0 and go on
]


@dataclass
class Run:
    label: str
    workers: int
    seconds: float = 0.0
    returncode: int = 0
    peak_worker_mb: float = 0.0  # sampled from outside
    peak_from_results_mb: float = 0.0  # kernel peak + worker's own RSS, from result files
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average before, after
    capacity: float = 0.0  # cores' worth of CPU the machine gave two busy processes, before
    scores: dict[str, float] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)  # mean seconds per submission
    overhead: float = 0.0  # mean share of a submission's time that is not training

    def rate(self, n: int) -> float:
        return 60 * n / self.seconds


# ---------------------------------------------------------------------------------------
# The class


def answers(master: nbformat.NotebookNode) -> dict[str, str]:
    """The solution code of every answer cell, as a student types it (no markers)."""
    out = {}
    for cell in master.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            lines = [line for line in cell.source.splitlines() if line.strip() not in MARKERS]
            out[meta["grade_id"]] = "\n".join(lines)
    return out


def submission(release: nbformat.NotebookNode, solved: dict[str, str],
               replacements: dict[str, str], unanswered: tuple[str, ...]) -> nbformat.NotebookNode:
    nb = copy.deepcopy(release)
    hits = dict.fromkeys(replacements, 0)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid not in solved or gid in unanswered or "*" in unanswered:
            continue
        source = solved[gid]
        for old, new in replacements.items():
            hits[old] += source.count(old)
            source = source.replace(old, new)
        cell.source = source
    missing = [old for old, n in hits.items() if not n]
    assert not missing, f"{missing} is in no answer cell"
    return nb


def make_course(base: Path, students: int) -> tuple[Path, dict[str, float]]:
    """A course folder with the assignment generated by nbgrader (release + gradebook) and
    `students` submissions; returns it and each student's expected score."""
    course = base / "template"
    (course / "source").mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", course)
    shutil.copytree(REPO / "source" / ASSIGNMENT, course / "source" / ASSIGNMENT)
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT,
                    "--force", "--log-level=WARN"], cwd=course, check=True)
    release = nbformat.read(course / "assignments" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)
    solved = answers(nbformat.read(course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4))
    expected = {}
    for i in range(students):
        name, replacements, unanswered, score = CLASS[i % len(CLASS)]
        student = f"s{i + 1:02d}_{name}"
        path = course / "submitted" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        path.parent.mkdir(parents=True)
        if name == "broken_file":
            path.write_text('{"cells": [')
        else:
            nbformat.write(submission(release, solved, replacements, unanswered), path)
        expected[student] = score
    return course, expected


# ---------------------------------------------------------------------------------------
# Measuring

SPIN = "import time\nt = time.process_time()\nwhile time.process_time() - t < 1.0: pass"


def capacity() -> float:
    """How many cores' worth two CPU-bound processes get right now (2.0 on an idle 2-core
    machine): this machine is shared, and what other programs take, the graders lack."""
    def spin(n: int) -> float:
        started = time.monotonic()
        procs = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(n)]
        for proc in procs:
            proc.wait()
        return time.monotonic() - started

    return 2 * spin(1) / spin(2)



def _pss(proc: psutil.Process) -> int:
    with suppress(psutil.Error):
        return proc.memory_full_info().pss
    return 0


def _tree_pss(proc: psutil.Process) -> int:
    with suppress(psutil.Error):
        return sum(_pss(p) for p in [proc, *proc.children(recursive=True)])
    return 0


def timed(argv: list[str], cwd: Path, workers_of: Callable[[psutil.Process],
          list[psutil.Process]], log: Path) -> tuple[float, int, float]:
    """Run a command; its wall time, exit code and the peak PSS of one worker's tree."""
    peak = 0
    with log.open("w") as out:
        started = time.monotonic()
        proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            for worker in workers_of(root):
                peak = max(peak, _tree_pss(worker))
            with suppress(subprocess.TimeoutExpired):
                proc.wait(SAMPLE_SECONDS)
        seconds = time.monotonic() - started
    return seconds, proc.returncode, peak / MIB


def pool_workers(root: psutil.Process) -> list[psutil.Process]:
    with suppress(psutil.Error):
        return [p for p in root.children() if "spawn_main" in " ".join(p.cmdline())]
    return []


def gradebook_scores(course: Path) -> dict[str, float]:
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {s.student.id: float(s.score) for s in gb.assignment_submissions(ASSIGNMENT)}


def _stamp(cell: nbformat.NotebookNode, key: str) -> float:
    return datetime.fromisoformat(cell.metadata["execution"][key].rstrip("Z")).timestamp()


def nbgrader_phases(course: Path, wall: float) -> list[dict[str, float]]:
    """Phases of each autograded notebook from the cell timings nbgrader's kernel recorded;
    what no cell accounts for (nbgrader itself, kernel start) is `other`."""
    out = []
    paths = sorted(course.glob(f"autograded/*/{ASSIGNMENT}/{ASSIGNMENT}.ipynb"))
    for path in paths:
        nb = nbformat.read(path, 4)
        phases = dict.fromkeys(PHASES, 0.0)
        for cell in nb.cells:
            if "execution" not in cell.get("metadata", {}):
                continue
            seconds = _stamp(cell, "shell.execute_reply") - _stamp(cell, "iopub.execute_input")
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade_id") == "setup":
                phases["imports"] += seconds
            elif meta.get("grade_id") == "prepare_data":
                phases["data"] += seconds
            elif ".fit(" in cell.source:
                phases["training"] += seconds
            elif meta.get("grade"):
                phases["checks"] += seconds  # hidden tests: export + clean-process inspection
            else:
                phases["student_other"] += seconds
        phases["other"] = max(0.0, wall / len(paths) - sum(phases.values()))
        out.append(phases)
    return out


def kerasgrade_phases(course: Path) -> tuple[list[dict[str, float]], float]:
    """Phases of each result, and the peak of kernel + worker memory over the results."""
    phases, peak = [], 0.0
    for path in sorted(course.glob(f".kerasgrade/results/{ASSIGNMENT}/*.json")):
        state = json.loads(path.read_text())
        timings = state["result"]["timings"]
        if not timings:  # refused before execution (broken file): no phases
            continue
        p = {k: timings.get(k, 0.0) for k in PHASES if k != "other"}
        p["other"] = max(0.0, timings["total"] - sum(p.values()))
        phases.append(p)
        kernel = state["result"]["facts"].get("execution", {}).get("peak_rss_mb", 0.0)
        peak = max(peak, kernel + state["worker"].get("peak_rss_mb", 0.0))
    return phases, peak


def summarize(run: Run, per_submission: list[dict[str, float]]) -> None:
    if not per_submission:  # nothing ran (every notebook refused, or the grader broke)
        run.phases = dict.fromkeys(PHASES, 0.0)
        return
    run.phases = {k: statistics.mean(p[k] for p in per_submission) for k in PHASES}
    run.overhead = statistics.mean(
        1 - p["training"] / total for p in per_submission if (total := sum(p.values())) > 0)


# ---------------------------------------------------------------------------------------
# The runs


def run_nbgrader(template: Path, base: Path) -> Run:
    course = base / "nbgrader"
    shutil.copytree(template, course)
    run = Run("nbgrader autograde (sequential)", 1, load=(os.getloadavg()[0], 0.0),
              capacity=capacity())
    run.seconds, run.returncode, run.peak_worker_mb = timed(
        [sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT, "--force"], course,
        lambda root: [root], base / "nbgrader.log")
    run.load = (run.load[0], os.getloadavg()[0])
    run.scores = gradebook_scores(course)
    summarize(run, nbgrader_phases(course, run.seconds))
    return run


def run_kerasgrade(template: Path, base: Path, workers: int) -> Run:
    course = base / f"kerasgrade-{workers}"
    shutil.copytree(template, course)
    run = Run(f"kerasgrade grade --workers {workers}", workers, load=(os.getloadavg()[0], 0.0),
              capacity=capacity())
    run.seconds, run.returncode, run.peak_worker_mb = timed(
        [sys.executable, "-m", "kerasgrade.cli", "grade", ASSIGNMENT, "--workers", str(workers)],
        course, pool_workers, base / f"kerasgrade-{workers}.log")
    run.load = (run.load[0], os.getloadavg()[0])
    run.scores = gradebook_scores(course)
    per_submission, run.peak_from_results_mb = kerasgrade_phases(course)
    summarize(run, per_submission)
    return run


def report(runs: list[Run], expected: dict[str, float]) -> None:
    n = len(expected)
    print(f"\n{n} submissions of {ASSIGNMENT}")
    head = f"{'':34}{'sub/min':>8}{'wall s':>8}{'rc':>4}{'peak MB/worker':>16}{'(results)':>10}"
    print(head + f"{'overhead':>10}{'load':>11}{'capacity':>10}")
    for r in runs:
        from_results = f"{r.peak_from_results_mb:.0f}" if r.peak_from_results_mb else "-"
        print(f"{r.label:34}{r.rate(n):8.2f}{r.seconds:8.0f}{r.returncode:4d}"
              f"{r.peak_worker_mb:16.0f}{from_results:>10}{r.overhead:9.0%}"
              f"{r.load[0]:6.1f}>{r.load[1]:4.1f}{r.capacity:10.2f}")
    print(f"(load: 1-minute load average before>after, other programs included; capacity: "
          f"cores' worth two busy processes got just before the run, of "
          f"{len(os.sched_getaffinity(0))}; nbgrader exits 1 when a notebook cannot be read)")
    print("\nmean seconds per submission and phase (a worker's view: with N workers, N run at "
          "once)")
    print(f"{'':34}" + "".join(f"{k[:12]:>13}" for k in PHASES) + f"{'total':>8}")
    for r in runs:
        print(f"{r.label:34}" + "".join(f"{r.phases[k]:13.1f}" for k in PHASES)
              + f"{sum(r.phases.values()):8.1f}")
    print("\nscores per student (expected | " + " | ".join(r.label for r in runs) + ")")
    for student, score in expected.items():
        got = " ".join(f"{r.scores.get(student, float('nan')):5g}" for r in runs)
        print(f"  {student:28} {score:5g} | {got}")
    if len(runs) > 2:
        scaling = runs[1].rate(n) / runs[2].rate(n)
        print(f"\nscaling: {runs[1].label} vs {runs[2].label}: {scaling:.2f}x")
    same = all(r.scores == runs[0].scores for r in runs[1:2]) and len(runs[0].scores) == n
    print(f"speedup_vs_nbgrader: {runs[1].rate(n) / runs[0].rate(n):.2f} "
          f"identical_scores: {'yes' if same else 'no'}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--students", type=int, default=len(CLASS))
    p.add_argument("--workers", type=int, nargs="+", default=[2, 1],
                   help="kerasgrade pool sizes; the first is compared with nbgrader")
    p.add_argument("--keep", type=Path, help="build and keep the course folders here")
    args = p.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="kerasgrade-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    try:
        template, expected = make_course(base, args.students)
        runs = [run_nbgrader(template, base)]
        runs += [run_kerasgrade(template, base, w) for w in args.workers]
        report(runs, expected)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
