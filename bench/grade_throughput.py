"""Grading throughput: sequential `nbgrader autograde` against `kerasgrade grade --workers N`
and against `kerasgrade grade --scheduler` on a loopback Dask cluster of two workers.

    python bench/grade_throughput.py [--students 13] [--workers 2 1] [--no-dask] [--keep DIR]
                                     [--sample]

Builds one class of real 02-connected-networks submissions (the released notebook with the
solutions filled in, as students write them, and realistic mistakes) on full MNIST (fetched
into data/ first; --sample: the 5,000-digit sample), then grades copies of
the same course folder side by side in one run: with nbgrader's own autograder (the hidden
test cells call kerasgrade's checks), with `kerasgrade grade` for each --workers value, and
(unless --no-dask) with `kerasgrade grade --scheduler ADDRESS` on a real `dask scheduler` and
`dask worker --nworkers 2 --nthreads 1` started on 127.0.0.1 for the run and stopped after it.
Scores are read back from each run's nbgrader gradebook.

Per run it prints submissions per minute, peak memory per worker, the overhead (the mean
share of a trained submission's wall time, one whose training phase took time, that is not
the student's training; a worker's start, once per worker on its first submission, is not the
submission's), the grader's share (the same, less the student's other cells too: what is
neither the student's code nor a worker's start), then the mean time per phase of one
submission, each student's
score per run and the scaling: the first two --workers values against each other, and Dask
against nbgrader. Peak memory is sampled from outside (PSS of each worker's whole process
tree: the worker, its sandboxed kernel, its measuring process and their children; RSS where
PSS cannot be read, counted and said), and also computed from the results (kernel peak + the
worker's own peak RSS). Each run also states how many cores' worth of CPU two busy processes
got just before it: the machine may be shared, and a speedup from parallel workers needs
cores nobody else is using. The last line is
    speedup_vs_nbgrader: X.XX identical_scores: yes|no overhead: 0.XX grader_share: 0.XX
    peak_gb_per_worker: X.XX
speedup and identical_scores as the first --workers value's rate against nbgrader's and
whether every kerasgrade run (every pool size, Dask) gave all students nbgrader's scores;
overhead and peak GiB of one worker's tree for that first --workers run.

A leg that failed (an exit code other than the grader's own for this class, a student left
without a score, or a score other than the one expected) stops the benchmark: it names the
leg and why, prints the leg's last lines, prints no speedup and exits 1. A figure from a run
that did not grade the class would measure nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import nbformat
import psutil
from nbgrader.api import Gradebook

from kerasgrade import data, results
from kerasgrade.course.demo import answered

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "02-connected-networks"
PHASES = (*results.PHASES, "other")
# What is neither the student's code nor a worker's start.
GRADER_PHASES = ("kernel_start", "export", "measure", "other")
# Reading a TensorFlow process's PSS costs ~13 ms of CPU: sample seldom, so that measuring
# does not slow what it measures (the results carry the sandbox's own 0.1 s samples).
SAMPLE_SECONDS = 2.0
MIB = 2**20
# Lines of a failed leg's log shown with its verdict: enough for the grader's own message.
LOG_TAIL = 15

DASK_WORKERS = 2
# Seconds for the loopback Dask cluster to come up, and for each of its processes to stop.
DASK_START_SECONDS = 120
DASK_STOP_SECONDS = 30

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
    log: Path
    seconds: float = 0.0
    returncode: int = 0
    peak_worker_mb: float = 0.0  # sampled from outside
    pss_reads: int = 0  # process memory reads while sampling
    pss_fallbacks: int = 0  # of those, RSS because PSS was denied
    peak_from_results_mb: float = 0.0  # kernel peak + worker's own RSS, from result files
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average before, after
    capacity: float = 0.0  # cores' worth of CPU the machine gave two busy processes, before
    scores: dict[str, float] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)  # mean seconds per submission
    # mean share of a trained submission's time that is not training (nan: none trained)
    overhead_trained: float = float("nan")
    # the same, less the student's other cells: the grader's own
    grader_share: float = float("nan")

    def rate(self, n: int) -> float:
        return 60 * n / self.seconds


# ---------------------------------------------------------------------------------------
# The class


def make_course(base: Path, students: int) -> tuple[Path, dict[str, float]]:
    """A course folder with the assignment generated by nbgrader (release + gradebook) and
    `students` submissions; returns it and each student's expected score."""
    course = base / "template"
    (course / "source").mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", course)
    shutil.copytree(REPO / "source" / ASSIGNMENT, course / "source" / ASSIGNMENT)
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT,
                    "--force", "--log-level=WARN"], cwd=course, check=True)
    expected = {}
    for i in range(students):
        name, replacements, unanswered, score = CLASS[i % len(CLASS)]
        student = f"s{i + 1:02d}_{name}"
        path = course / "submitted" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        path.parent.mkdir(parents=True)
        if name == "broken_file":
            path.write_text('{"cells": [')
        else:
            nbformat.write(answered(course, ASSIGNMENT, replacements, unanswered), path)
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


@dataclass
class Sampler:
    """Peak PSS of one worker's tree, and how many reads fell back to RSS."""

    peak: int = 0
    reads: int = 0
    fallbacks: int = 0

    def _pss(self, proc: psutil.Process) -> int:
        # As the watchdog's _pss: a process we may not read (another uid in the sandbox
        # without root, a non-dumpable helper) counts its RSS, not 0; gone counts 0.
        self.reads += 1
        try:
            return int(proc.memory_full_info().pss)
        except psutil.AccessDenied:
            self.fallbacks += 1
            with suppress(psutil.Error):
                return int(proc.memory_info().rss)
        except psutil.Error:
            pass
        return 0

    def tree(self, proc: psutil.Process) -> int:
        """PSS of a worker and every descendant (kernel, measurer or zygote, their forks)."""
        try:
            procs = [proc, *proc.children(recursive=True)]
        except psutil.Error:  # the worker itself ended between listing and reading
            return 0
        total = sum(self._pss(p) for p in procs)
        self.peak = max(self.peak, total)
        return total


def timed(argv: list[str], cwd: Path, workers_of: Callable[[psutil.Process],
          list[psutil.Process]], log: Path) -> tuple[float, int, Sampler]:
    """Run a command; its wall time, exit code and the sampled worker trees."""
    sampler = Sampler()
    with log.open("w") as out:
        started = time.monotonic()
        proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            for worker in workers_of(root):
                sampler.tree(worker)
            with suppress(subprocess.TimeoutExpired):
                proc.wait(SAMPLE_SECONDS)
        seconds = time.monotonic() - started
    return seconds, proc.returncode, sampler


def _measured(run: Run, result: tuple[float, int, Sampler]) -> None:
    run.seconds, run.returncode, sampler = result
    run.peak_worker_mb = sampler.peak / MIB
    run.pss_reads, run.pss_fallbacks = sampler.reads, sampler.fallbacks


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
                phases["measure"] += seconds  # hidden tests: export + clean-process measurement
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
    # Only trained submissions: a blank notebook, all overhead, says nothing about the
    # grader's cost around a student's training. A worker's start is the worker's.
    trained = [p for p in per_submission if p["training"] > 0]
    if trained:
        walls = [sum(p.values()) - p["worker_start"] for p in trained]
        run.overhead_trained = statistics.mean(
            1 - p["training"] / wall for p, wall in zip(trained, walls, strict=True))
        run.grader_share = statistics.mean(
            sum(p[k] for k in GRADER_PHASES) / wall
            for p, wall in zip(trained, walls, strict=True))


# ---------------------------------------------------------------------------------------
# The runs


class LegFailed(RuntimeError):
    """A leg did not grade the class: its figures would measure nothing."""

    def __init__(self, run: Run, problems: list[str]) -> None:
        lines = run.log.read_text(errors="replace").splitlines() if run.log.exists() else []
        tail = "\n".join(f"  | {line}" for line in lines[-LOG_TAIL:]) or "  | (no output)"
        super().__init__(f"leg failed: {run.label}: {'; '.join(problems)}\n"
                         f"its last lines ({run.log}):\n{tail}")


def problems(run: Run, expected: dict[str, float], exit_codes: frozenset[int]) -> list[str]:
    """Why a leg's figures cannot be used: [] when it exited as its grader does on this class
    and gave every student the expected score."""
    found = []
    if run.returncode not in exit_codes:
        found.append(f"exit code {run.returncode}")
    unscored = [s for s in expected if s not in run.scores]
    if unscored:
        found.append(f"{len(unscored)} of {len(expected)} students have no score "
                     f"({', '.join(unscored[:4])}{', ...' if len(unscored) > 4 else ''})")
    wrong = [f"{s} {run.scores[s]:g} (expected {score:g})" for s, score in expected.items()
             if s in run.scores and run.scores[s] != score]
    if wrong:
        found.append(f"scores other than expected: {', '.join(wrong)}")
    return found


def checked(run: Run, expected: dict[str, float], exit_codes: frozenset[int] = frozenset({0})
            ) -> Run:
    """The run, or LegFailed saying why its figures cannot be used."""
    if found := problems(run, expected, exit_codes):
        raise LegFailed(run, found)
    return run


def run_nbgrader(template: Path, base: Path) -> Run:
    course = base / "nbgrader"
    shutil.copytree(template, course)
    run = Run("nbgrader autograde (sequential)", 1, base / "nbgrader.log",
              load=(os.getloadavg()[0], 0.0), capacity=capacity())
    _measured(run, timed(
        [sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT, "--force"], course,
        lambda root: [root], run.log))
    run.load = (run.load[0], os.getloadavg()[0])
    run.scores = gradebook_scores(course)
    summarize(run, nbgrader_phases(course, run.seconds))
    return run


def run_kerasgrade(template: Path, base: Path, workers: int) -> Run:
    course = base / f"kerasgrade-{workers}"
    shutil.copytree(template, course)
    run = Run(f"kerasgrade grade --workers {workers}", workers,
              base / f"kerasgrade-{workers}.log", load=(os.getloadavg()[0], 0.0),
              capacity=capacity())
    _measured(run, timed(
        [sys.executable, "-m", "kerasgrade", "grade", ASSIGNMENT, "--workers", str(workers)],
        course, pool_workers, run.log))
    run.load = (run.load[0], os.getloadavg()[0])
    run.scores = gradebook_scores(course)
    per_submission, run.peak_from_results_mb = kerasgrade_phases(course)
    summarize(run, per_submission)
    return run


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a cluster process, kill it if it does not stop in time, then whatever it
    left behind (a nanny killed hard cannot stop its workers and their sandboxes)."""
    tree: list[psutil.Process] = []
    with suppress(psutil.Error):
        tree = psutil.Process(proc.pid).children(recursive=True)
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(DASK_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    _, alive = psutil.wait_procs(tree, timeout=DASK_STOP_SECONDS)
    for leftover in alive:
        with suppress(psutil.Error):
            leftover.kill()
    psutil.wait_procs(alive, timeout=DASK_STOP_SECONDS)


def _scheduler_address(scheduler: subprocess.Popen[bytes], path: Path) -> str:
    """The address the scheduler wrote once it listens (port 0: the system picks a free one,
    so no other program's port is ever taken)."""
    deadline = time.monotonic() + DASK_START_SECONDS
    while time.monotonic() < deadline:
        if scheduler.poll() is not None:
            raise RuntimeError(f"dask scheduler exited with {scheduler.returncode}")
        with suppress(OSError, ValueError, KeyError):  # not written yet, or half written
            return str(json.loads(path.read_text())["address"])
        time.sleep(0.2)
    raise RuntimeError("dask scheduler did not start in time")


def dask_workers(nannies: psutil.Process) -> list[psutil.Process]:
    """The worker processes the nannies spawned (not the resource tracker, not the workers'
    own children, which their trees count)."""
    with suppress(psutil.Error):
        return [p for p in nannies.children() if "spawn_main" in " ".join(p.cmdline())]
    return []


@contextmanager
def loopback_cluster(cluster: Path) -> Iterator[tuple[str, psutil.Process]]:
    """A real `dask scheduler` and `dask worker --nworkers 2 --nthreads 1` on 127.0.0.1 with
    their logs in `cluster`, ready (nannies spawn the workers, which import kerasgrade through
    the inherited environment, as on a real cluster's hosts): its address and the nannies'
    process. Stopped after."""
    from distributed import Client  # only the Dask runs need it

    cluster.mkdir()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with (cluster / "scheduler.log").open("w") as log:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                 "--port", "0", "--no-dashboard", "--scheduler-file",
                 str(cluster / "scheduler.json")], cwd=cluster, stdout=log,
                stderr=subprocess.STDOUT))
        address = _scheduler_address(procs[0], cluster / "scheduler.json")
        with (cluster / "worker.log").open("w") as log:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", address, "--host",
                 "127.0.0.1", "--nworkers", str(DASK_WORKERS), "--nthreads", "1",
                 "--no-dashboard", "--local-directory", str(cluster)], cwd=cluster, stdout=log,
                stderr=subprocess.STDOUT))
        # Workers up before the clock starts: their start-up is not grading time.
        with Client(address, timeout=f"{DASK_START_SECONDS}s") as client:
            client.wait_for_workers(DASK_WORKERS, timeout=DASK_START_SECONDS)
        yield address, psutil.Process(procs[1].pid)
    finally:
        for proc in reversed(procs):  # workers first: they would reconnect to a new scheduler
            _stop(proc)


def run_dask(template: Path, base: Path) -> Run:
    """Grade a copy of the course on a real loopback cluster (loopback_cluster)."""
    course = base / "kerasgrade-dask"
    shutil.copytree(template, course)
    with loopback_cluster(base / "dask") as (address, nannies):
        run = Run(f"kerasgrade grade, Dask {DASK_WORKERS} workers", DASK_WORKERS,
                  base / "kerasgrade-dask.log", load=(os.getloadavg()[0], 0.0),
                  capacity=capacity())
        _measured(run, timed(
            [sys.executable, "-m", "kerasgrade", "grade", ASSIGNMENT, "--scheduler", address],
            course, lambda _root: dask_workers(nannies), run.log))
        run.load = (run.load[0], os.getloadavg()[0])
    run.scores = gradebook_scores(course)
    per_submission, run.peak_from_results_mb = kerasgrade_phases(course)
    summarize(run, per_submission)
    return run


def report(nbgrader: Run, pools: list[Run], dask: Run | None,
           expected: dict[str, float]) -> None:
    runs = [nbgrader, *pools, *([dask] if dask is not None else [])]
    n = len(expected)
    print(f"\n{n} submissions of {ASSIGNMENT}")
    head = f"{'':34}{'sub/min':>8}{'wall s':>8}{'rc':>4}{'peak MB/worker':>16}{'(results)':>10}"
    print(head + f"{'overhead*':>10}{'grader*':>9}{'load':>11}{'capacity':>10}")
    for r in runs:
        from_results = f"{r.peak_from_results_mb:.0f}" if r.peak_from_results_mb else "-"
        print(f"{r.label:34}{r.rate(n):8.2f}{r.seconds:8.0f}{r.returncode:4d}"
              f"{r.peak_worker_mb:16.0f}{from_results:>10}{r.overhead_trained:9.0%}"
              f"{r.grader_share:9.0%}{r.load[0]:6.1f}>{r.load[1]:4.1f}{r.capacity:10.2f}")
    print(f"(*overhead: mean share of a trained submission's wall time, a worker's start "
          f"left out, that is not its training; grader: that is neither the student's cells "
          f"nor a worker's start; load: 1-minute load average before>after, other programs "
          f"included; "
          f"capacity: cores' worth two busy processes got just before the run, of "
          f"{len(os.sched_getaffinity(0))}; nbgrader exits 1 when a notebook cannot be read)")
    for r in runs:
        if r.pss_fallbacks:  # said, so that a peak partly made of RSS is not taken for PSS
            print(f"{r.label}: PSS denied in {r.pss_fallbacks} of {r.pss_reads} process "
                  f"reads, RSS counted instead")
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
    print()
    if len(pools) > 1:
        scaling = pools[0].rate(n) / pools[1].rate(n)
        print(f"scaling: {pools[0].label} vs {pools[1].label}: {scaling:.2f}x")
    if dask is not None:
        print(f"scaling: {dask.label} vs {nbgrader.label}: "
              f"{dask.rate(n) / nbgrader.rate(n):.2f}x")
    first = pools[0]
    # Every kerasgrade run, not only the first: a pool size or Dask must not change a score.
    same = len(nbgrader.scores) == n and all(r.scores == nbgrader.scores for r in runs[1:])
    print(f"speedup_vs_nbgrader: {first.rate(n) / nbgrader.rate(n):.2f} "
          f"identical_scores: {'yes' if same else 'no'} "
          f"overhead: {first.overhead_trained:.2f} "
          f"grader_share: {first.grader_share:.2f} "
          f"peak_gb_per_worker: {first.peak_worker_mb / 1024:.2f}")


def add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--keep", type=Path, help="build and keep the course folders here")
    p.add_argument("--data-dir", type=Path,
                   default=Path(os.environ.get("KERASGRADE_DATA_DIR") or REPO / "data"),
                   help="data folder, filled by `kerasgrade data fetch` first (default: data/)")
    p.add_argument("--sample", action="store_true",
                   help="train on the 5,000-digit MNIST sample instead (no data folder)")


def prepare(args: argparse.Namespace, prefix: str) -> Path:
    """The data every grader of the run trains on, in the environment they inherit (full
    MNIST, as in a real course, unless --sample), and the folder for the run's courses."""
    if args.sample:
        os.environ.pop("KERASGRADE_DATA_DIR", None)
        print("data: the 5,000-digit MNIST sample (4,000 train / 1,000 test)")
    else:
        for line in data.fetch(args.data_dir):
            print(line)
        os.environ["KERASGRADE_DATA_DIR"] = str(args.data_dir.resolve())
    base = args.keep or Path(tempfile.mkdtemp(prefix=prefix))
    base.mkdir(parents=True, exist_ok=True)
    return base


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--students", type=int, default=len(CLASS))
    p.add_argument("--workers", type=int, nargs="+", default=[2, 1],
                   help="kerasgrade pool sizes; the first is compared with nbgrader")
    p.add_argument("--dask", action=argparse.BooleanOptionalAction, default=True,
                   help="also grade on a loopback Dask cluster of two workers (default: on)")
    add_data_options(p)
    args = p.parse_args()
    base = prepare(args, "kerasgrade-bench-")
    try:
        template, expected = make_course(base, args.students)
        # nbgrader autograde exits 1 after a notebook it could not read, and goes on.
        unreadable = any(student.endswith("_broken_file") for student in expected)
        nbgrader = checked(run_nbgrader(template, base), expected,
                           frozenset({0, 1} if unreadable else {0}))
        pools = [checked(run_kerasgrade(template, base, w), expected) for w in args.workers]
        dask = checked(run_dask(template, base), expected) if args.dask else None
        report(nbgrader, pools, dask, expected)
    except LegFailed as failed:
        print(f"\n{failed}\nno speedup is printed: a leg that did not grade the class "
              "measures nothing", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
