"""Grade-on-submit latency: a burst of submissions into nbgrader's exchange, graded by
`kerasgrade serve`, from submit to feedback a student can fetch.

    python bench/submit_latency.py [--workers 2] [--students 16] [--resubmit 4]
                                   [--seconds 60] [--scheduler] [--sample] [--keep DIR]

Builds a course on nbgrader's own exchange (generate_assignment, release_assignment), starts
`kerasgrade serve --workers N` on it and waits until it says it is serving (self-test done,
workers warm). Then, within --seconds, it submits --students notebooks of 02 with `nbgrader
submit --student ID` (the solution and the typical mistakes of bench/grade_throughput.py),
and --resubmit of those students, whose first notebook was a mistake, submit the solution
again later in the burst (some while their first still waits: the service grades the
latest). Full MNIST unless --sample. With --scheduler, the service grades on a loopback Dask
cluster of two workers started for the run (`kerasgrade serve --scheduler`, as
bench/grade_throughput.py starts it), and --workers is 2.

A submission's feedback is fetchable when nbgrader's release_feedback has put it into the
exchange's feedback folder under the name `nbgrader fetch_feedback` looks for (the md5 of the
submission's secret and notebook). Per submission it prints the time from its submission
(the time nbgrader's submit stamps on it) to that moment, and how much of it was waiting in
the queue (to the service's `started` event) and how much grading (from there to
fetchable). A submission that a later one of the same student replaced while it waited gets
no feedback of its own and is counted as replaced, not lost.

Then, with the service idle, one more solution is submitted and timed the same way, and the
service is stopped; the same notebook then runs under plain `jupyter nbconvert --execute`.
idle_latency_ratio is the first time over the second (target: at most 0.6). The idle
submission's seconds are split into the service's steps and the grading's phases, and
nbconvert's training cell is timed beside its total.

The last line:
    p50_s: X p95_s: X idle_latency_ratio: X.XX lost: N graded_twice: N queue_efficiency: X.XX
lost: submissions neither released nor replaced; graded_twice: submissions the service
graded more than once (its events.jsonl); queue_efficiency: the ideal makespan of the burst
(the sum of the graded submissions' own grading seconds, each from its `started` event to
its `graded` event, divided by the workers) over the measured one (the first `started` to
the last `graded`); 1 when no worker ever waited while a submission was due. The benchmark
exits 1 when a submission is lost, graded twice, or its final score is not the expected one,
or when the service stops early.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

import nbformat
from grade_throughput import (
    ASSIGNMENT,
    CLASS,
    DASK_WORKERS,
    REPO,
    add_data_options,
    gradebook_scores,
    loopback_cluster,
    prepare,
)
from nbgrader.utils import parse_utc

from kerasgrade.course.demo import answered
from kerasgrade.results import PHASES

COURSE_ID = "kerasgrade"  # nbgrader_config.py's
# The service's start-up (self-test, warm workers) and a whole burst, at most.
START_SECONDS = 600
DRAIN_SECONDS = 3600
POLL = 0.1


@dataclass
class Submission:
    student: str
    variant: str  # a name from CLASS
    expected: float
    inbound: str = ""
    submitted: float = 0.0  # the time nbgrader's submit stamped on it
    fetchable: float = 0.0  # when its feedback appeared in the exchange
    feedback: Path | None = None

    @property
    def latency(self) -> float:
        return self.fetchable - self.submitted


def md5_feedback_name(secret: str, notebook_id: str) -> str:
    """The file name nbgrader's release_feedback gives a submission's page in the exchange
    (nbgrader.utils.notebook_hash with a secret)."""
    return hashlib.md5((secret + notebook_id).encode()).hexdigest() + ".html"


class Course:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.root = base / "course"
        self.exchange = base / "exchange"
        self.desks = base / "desks"

    def build(self, assignments: tuple[str, ...] = (ASSIGNMENT,)) -> None:
        """The course with these assignments generated and released, on its exchange."""
        (self.root / "source").mkdir(parents=True)
        self.exchange.mkdir()
        self.exchange.chmod(0o1777)  # as nbgrader's docs set it up
        for aid in assignments:
            shutil.copytree(REPO / "source" / aid, self.root / "source" / aid)
        config = (REPO / "nbgrader_config.py").read_text()
        # The students are `nbgrader submit --student ID` run as this user, with no roster:
        # the service takes them from the inbound names (as tests/frontends/serve does).
        (self.root / "nbgrader_config.py").write_text(
            config + f"\nc.Exchange.root = {str(self.exchange)!r}\n"
            "c.Kerasgrade.trust_inbound_names = True\nc.Kerasgrade.open_course = True\n")
        for aid in assignments:
            for step in ("generate_assignment", "release_assignment"):
                subprocess.run([sys.executable, "-m", "nbgrader", step, aid, "--force",
                                "--log-level=WARN"], cwd=self.root, check=True)

    def submit(self, sub: Submission) -> None:
        """The student's notebook in a folder of their own, handed in with nbgrader's submit;
        records the inbound folder it made and where its feedback will appear."""
        desk = self.desks / sub.student
        work = desk / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        work.parent.mkdir(parents=True, exist_ok=True)
        (desk / "nbgrader_config.py").write_text(
            f"c = get_config()  # noqa: F821\nc.Exchange.root = {str(self.exchange)!r}\n"
            f"c.CourseDirectory.course_id = {COURSE_ID!r}\n")
        _, replacements, unanswered, _ = next(c for c in CLASS if c[0] == sub.variant)
        if sub.variant == "broken_file":
            work.write_text('{"cells": [')
        else:
            nbformat.write(answered(self.root, ASSIGNMENT, replacements, unanswered), work)
        inbound = self.exchange / COURSE_ID / "inbound"
        before = set(os.listdir(inbound))
        subprocess.run([sys.executable, "-m", "nbgrader", "submit", ASSIGNMENT, "--student",
                        sub.student, "--log-level=WARN"], cwd=desk, check=True)
        (sub.inbound,) = {n for n in os.listdir(inbound) if n.startswith(f"{sub.student}+")
                          } - before
        # student+assignment+TIMESTAMP+random: the submission's time as nbgrader records it.
        stamp = parse_utc(sub.inbound.split("+")[2])  # naive, in UTC
        sub.submitted = stamp.replace(tzinfo=UTC).timestamp()
        secret = (inbound / sub.inbound / "submission_secret.txt").read_text()
        sub.feedback = (self.exchange / COURSE_ID / "feedback"
                        / md5_feedback_name(secret, ASSIGNMENT))


def burst(students: int, resubmit: int) -> list[Submission]:
    """The class's submissions in order: one each, the first `resubmit` students with a
    mistake handing in the solution again near the end."""
    first = [Submission(f"s{i + 1:02d}", CLASS[i % len(CLASS)][0], CLASS[i % len(CLASS)][3])
             for i in range(students)]
    again = [s for s in first if s.expected < CLASS[0][3]][:resubmit]
    return first + [Submission(s.student, "solution", CLASS[0][3]) for s in again]


class Service:
    def __init__(self, course: Course, workers: int, log: Path, scheduler: str = "") -> None:
        self.course = course
        self.log = log
        self.out = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kerasgrade", "serve", "--root", str(course.root),
             "--workers", str(workers), "--poll", "0.5",
             *(["--scheduler", scheduler] if scheduler else [])],
            stdout=self.out, stderr=subprocess.STDOUT)

    def events(self) -> list[dict[str, object]]:
        path = self.course.root / ".kerasgrade" / "serve" / "events.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def alive(self) -> None:
        if self.proc.poll() is not None:
            tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
            raise SystemExit(f"kerasgrade serve stopped with exit code {self.proc.returncode}; "
                             f"its last lines:\n{tail}")

    def wait_ready(self) -> float:
        started = time.monotonic()
        while time.monotonic() - started < START_SECONDS:
            self.alive()
            if any(line.startswith("serving ") for line in self.log.read_text().splitlines()):
                return time.monotonic() - started
            time.sleep(0.5)
        raise SystemExit(f"kerasgrade serve was not serving after {START_SECONDS} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()


def wait_fetchable(subs: list[Submission], service: Service, done: threading.Event) -> None:
    """Stamp each submission's feedback the moment it appears, until every submission is
    settled (fetchable, or replaced by the student's next) and the burst is over."""
    deadline = time.monotonic() + DRAIN_SECONDS
    while time.monotonic() < deadline:
        service.alive()
        now = time.time()
        for sub in subs:
            if sub.feedback is not None and not sub.fetchable and sub.feedback.exists():
                sub.fetchable = now
        replaced = {e["inbound"] for e in service.events() if e["event"] == "replaced"}
        if done.is_set() and all(s.fetchable or s.inbound in replaced for s in subs):
            return
        time.sleep(POLL)
    raise SystemExit(f"not every submission was settled after {DRAIN_SECONDS} s")


def nbconvert_run(course: Course, notebook: Path) -> tuple[float, float]:
    """The same notebook under plain `jupyter nbconvert --execute`, in a copy of its folder:
    its seconds, and those of its training cells (nbclient's timing of each cell)."""
    folder = course.base / "nbconvert"
    folder.mkdir()
    shutil.copy(notebook, folder)
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook",
                    "--execute", "--ExecutePreprocessor.timeout=1800", "--output",
                    "executed.ipynb", notebook.name], cwd=folder, check=True,
                   capture_output=True)
    seconds = time.monotonic() - started
    executed = nbformat.read(folder / "executed.ipynb", as_version=4)
    training = sum(_cell_seconds(c) for c in executed.cells
                   if c.cell_type == "code" and ".fit(" in c.source)
    return seconds, training


def _cell_seconds(cell: nbformat.NotebookNode) -> float:
    timing = cell.metadata.get("execution", {})
    begun, ended = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    return (parse_utc(ended) - parse_utc(begun)).total_seconds() if begun and ended else 0.0


def idle_phases(course: Course, idle: Submission, events: list[dict[str, object]]
                ) -> list[tuple[str, float]]:
    """Where the idle submission's seconds went, from its submission to fetchable feedback:
    the service's events, and the grading's own phases from its stored result."""
    at = {str(e["event"]): float(e["time"]) for e in events  # type: ignore[arg-type]
          if e.get("inbound") == idle.inbound}
    stored = course.root / ".kerasgrade" / "results" / ASSIGNMENT / f"{idle.student}.json"
    timings = json.loads(stored.read_text())["result"]["timings"]
    grading = at["graded"] - at["started"]
    phases = [(k, timings.get(k, 0.0)) for k in PHASES]
    return [("read", at["queued"] - idle.submitted), ("queue", at["started"] - at["queued"]),
            *phases, ("worker_other", grading - sum(v for _, v in phases)),
            ("publish", at["released"] - at["graded"]),
            ("to_fetchable", idle.fetchable - at["released"])]


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 \
        else values[0]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--students", type=int, default=16)
    p.add_argument("--resubmit", type=int, default=4)
    p.add_argument("--seconds", type=float, default=60.0, help="length of the burst")
    p.add_argument("--scheduler", action="store_true",
                   help="grade on a loopback Dask cluster of two workers")
    add_data_options(p)
    args = p.parse_args()
    base = prepare(args, "kerasgrade-latency-")
    course = Course(base)
    try:
        course.build()
        with ExitStack() as cluster:
            scheduler = ""
            if args.scheduler:
                scheduler, _ = cluster.enter_context(loopback_cluster(base / "dask"))
                args.workers = DASK_WORKERS
            return measure(args, course, scheduler)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


def measure(args: argparse.Namespace, course: Course, scheduler: str) -> int:
    """The burst, then the idle submission, on a built course; the report's exit code."""
    subs = burst(args.students, args.resubmit)
    service = Service(course, args.workers, course.base / "serve.log", scheduler)
    try:
        where = f"--scheduler {scheduler}" if scheduler else f"--workers {args.workers}"
        print(f"kerasgrade serve {where}: serving after {service.wait_ready():.0f} s")
        done = threading.Event()
        gap = args.seconds / max(1, len(subs) - 1)

        def hand_in() -> None:
            start = time.monotonic()
            for i, sub in enumerate(subs):
                time.sleep(max(0.0, start + i * gap - time.monotonic()))
                course.submit(sub)
            done.set()

        submitter = threading.Thread(target=hand_in)
        submitter.start()
        wait_fetchable(subs, service, done)
        submitter.join()
        burst_events = service.events()
        # The idle service: one more solution, alone.
        idle = Submission("idle", "solution", CLASS[0][3])
        course.submit(idle)
        done.set()
        wait_fetchable([idle], service, done)
        events = service.events()
    finally:
        service.stop()
    plain = nbconvert_run(course, course.desks / "idle" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    return report(subs, burst_events, events, idle, plain, course, args.workers)


def queue_efficiency(events: list[dict[str, object]], workers: int) -> float:
    """The ideal makespan (own grading seconds over the workers) over the measured one."""
    started = {e["inbound"]: float(e["time"]) for e in events  # type: ignore[arg-type]
               if e["event"] == "started"}
    graded = {e["inbound"]: float(e["time"]) for e in events  # type: ignore[arg-type]
              if e["event"] == "graded" and e["inbound"] in started}
    if not graded:
        return 0.0
    own = sum(graded[n] - started[n] for n in graded)
    makespan = max(graded.values()) - min(started.values())
    return own / workers / makespan if makespan > 0 else 1.0


def report(subs: list[Submission], burst_events: list[dict[str, object]],
           events: list[dict[str, object]], idle: Submission, plain: tuple[float, float],
           course: Course, workers: int) -> int:
    started = {e["inbound"]: float(e["time"]) for e in burst_events  # type: ignore[arg-type]
               if e["event"] == "started"}
    replaced = {e["inbound"] for e in burst_events if e["event"] == "replaced"}
    graded = Counter(e["inbound"] for e in events if e["event"] == "graded")
    print(f"\n{len(subs)} submissions of {ASSIGNMENT} in the burst")
    print(f"{'student':9}{'notebook':20}{'outcome':>10}{'latency s':>11}{'queue s':>9}"
          f"{'grading s':>11}")
    released = []
    waits, gradings = [], []
    for sub in subs:
        if sub.fetchable:
            released.append(sub)
            # The service's clock and ours are the same machine's.
            begun = started.get(sub.inbound, sub.submitted)
            wait, grading = begun - sub.submitted, sub.fetchable - begun
            waits.append(wait)
            gradings.append(grading)
            print(f"{sub.student:9}{sub.variant:20}{'released':>10}{sub.latency:11.1f}"
                  f"{wait:9.1f}{grading:11.1f}")
        else:
            outcome = "replaced" if sub.inbound in replaced else "LOST"
            print(f"{sub.student:9}{sub.variant:20}{outcome:>10}{'-':>11}{'-':>9}{'-':>11}")
    lost = sum(1 for s in subs if not s.fetchable and s.inbound not in replaced)
    twice = sum(1 for n in graded.values() if n > 1)
    latencies = [s.latency for s in released]
    share = sum(waits) / (sum(waits) + sum(gradings))
    print(f"\nreleased {len(released)}, replaced {len(replaced)}, lost {lost}; latency "
          f"mean {statistics.mean(latencies):.1f} s; of it {share:.0%} waiting in the queue, "
          f"{1 - share:.0%} grading (collect, run, measure, gradebook, feedback, release)")
    ratio = idle.latency / plain[0]
    print(f"idle service: submit to fetchable {idle.latency:.1f} s; plain jupyter nbconvert "
          f"--execute of the same notebook {plain[0]:.1f} s, of it {plain[1]:.1f} s in its "
          "training cell")
    print("the idle submission's seconds: " + ", ".join(
        f"{name} {seconds:.1f}" for name, seconds in idle_phases(course, idle, events)))
    # Every student's gradebook score is the one their latest notebook deserves.
    final = {s.student: s.expected for s in subs} | {idle.student: idle.expected}
    scores = gradebook_scores(course.root)
    wrong = [f"{st} {scores.get(st, float('nan')):g} (expected {exp:g})"
             for st, exp in final.items() if scores.get(st) != exp]
    if wrong:
        print(f"scores other than expected: {', '.join(wrong)}")
    else:
        print(f"scores: all {len(final)} students as expected")
    print(f"p50_s: {percentile(latencies, 50):.1f} p95_s: {percentile(latencies, 95):.1f} "
          f"idle_latency_ratio: {ratio:.2f} lost: {lost} graded_twice: {twice} "
          f"queue_efficiency: {queue_efficiency(burst_events, workers):.2f}")
    return 1 if lost or twice or wrong else 0


if __name__ == "__main__":
    sys.exit(main())
