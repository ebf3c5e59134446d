"""A deadline at scale: hundreds of submissions of 01 and 02 in a burst, graded by
`kerasgrade serve` on the 5,000-digit sample (#34).

    python bench/deadline_burst.py [--submissions 500] [--seconds 600] [--workers 2]
                                   [--window 50] [--keep DIR]

Builds a course with 01-preparing-data and 02-connected-networks generated and released on
nbgrader's exchange, starts `kerasgrade serve --workers N` and waits until it serves. Then,
evenly over --seconds, --submissions entries arrive in the inbound folder as `nbgrader submit`
writes them (bench/serve_scale.py's `submit`: the name, timestamp.txt, the secret, the modes),
half of each assignment, one student each, a quarter of them with a demo mistake (the rest
the solution). Writing the entries costs the machine nothing worth counting, as on a hub,
where students submit from their own servers.

Per submission: the seconds from its entry to feedback a student can fetch (release_feedback's
file in the exchange). While it runs, every 2 s: the PSS of the service process, and of each
local worker's whole tree (worker, zygote, kernel, measuring process). Reported for the first
--window releases and for the last --window: a service or worker that keeps something per
submission grows between the two. After the burst, the inbound scan of the exchange now full
(Inbox.new as Service.scan calls it, 50 polls).

The last line:
    submissions: N p50_s: X p95_s: X queue_efficiency: X.XX lost: N graded_twice: N
    same_score_per_notebook: yes|no service_mb_first: X service_mb_last: X worker_mb_first: X
    worker_mb_last: X scan_p95_ms: X
The benchmark exits 1 when a submission is lost or graded twice, or when copies of one
notebook got different scores.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import psutil
from grade_throughput import prepare
from serve_scale import submit
from submit_latency import (
    COURSE_ID,
    Course,
    Service,
    md5_feedback_name,
    percentile,
    queue_efficiency,
)

from kerasgrade.course.demo import MISTAKES, answered
from kerasgrade.frontends.serve.inbox import Inbox
from kerasgrade.frontends.serve.queue import Queue

ASSIGNMENTS = ("01-preparing-data", "02-connected-networks")
SAMPLE_SECONDS = 2.0
DRAIN_SECONDS = 7200
SCAN_POLLS = 50
MIB = 2**20


@dataclass
class Entry:
    student: str
    assignment: str
    variant: str
    name: str = ""
    arrived: float = 0.0
    feedback: Path | None = None
    fetchable: float = 0.0


def notebooks(root: Path) -> dict[tuple[str, str], bytes]:
    """(assignment, variant): the notebook, for the solution and the first demo mistake."""
    made = {}
    for aid in ASSIGNMENTS:
        mistake = next(iter(MISTAKES[aid]))
        for variant, change in (("solution", None), (mistake, MISTAKES[aid][mistake])):
            nb = answered(root, aid) if change is None else answered(root, aid, change)
            made[aid, variant] = nbformat.writes(nb).encode()
    return made


def plan(count: int, made: dict[tuple[str, str], bytes]) -> list[Entry]:
    entries = []
    for i in range(count):
        aid = ASSIGNMENTS[i % 2]
        variants = [v for a, v in made if a == aid]
        entries.append(Entry(f"s{i:04d}", aid, variants[1] if i % 4 >= 2 else variants[0]))
    return entries


class Memory(threading.Thread):
    """PSS of the service and of each local worker's tree, sampled with the releases so far."""

    def __init__(self, service: psutil.Process, released: Callable[[], int]) -> None:
        super().__init__(daemon=True)
        self.service, self.released = service, released
        self.samples: list[tuple[int, float, float]] = []  # (released, service MB, worker MB)
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(SAMPLE_SECONDS):
            try:
                own = _pss(self.service)
                workers = [_tree(p) for p in self.service.children()
                           if "multiprocessing" in " ".join(p.cmdline())]
            except psutil.Error:
                continue
            self.samples.append((self.released(), own, max(workers, default=0.0)))

    def peaks(self, first: int, last_from: int) -> tuple[float, float, float, float]:
        early = [s for s in self.samples if s[0] <= first] or self.samples[:1]
        late = [s for s in self.samples if s[0] >= last_from] or self.samples[-1:]
        return (max(s[1] for s in early), max(s[1] for s in late),
                max(s[2] for s in early), max(s[2] for s in late))


def _pss(proc: psutil.Process) -> float:
    try:
        return proc.memory_full_info().pss / MIB
    except psutil.AccessDenied:
        return proc.memory_info().rss / MIB


def _tree(proc: psutil.Process) -> float:
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += _pss(p)
        except psutil.Error:
            pass  # ended while counted
    return total


def scan_p95_ms(course: Course) -> float:
    """The scan of the full exchange, as the service's poll runs it, after the service."""
    queue = Queue(course.root / ".kerasgrade" / "serve" / "queue.db")
    inbox = Inbox(course.exchange / COURSE_ID / "inbound", queue)
    times = []
    for _ in range(SCAN_POLLS):
        start = time.perf_counter()
        inbox.new()
        times.append((time.perf_counter() - start) * 1000)
        time.sleep(0.05)
    queue.close()
    return percentile(times, 95)


def run(args: argparse.Namespace, course: Course) -> int:
    made = notebooks(course.root)
    entries = plan(args.submissions, made)
    box = course.exchange / COURSE_ID / "inbound"
    service = Service(course, args.workers, course.base / "serve.log")
    released = Counter[str]()
    memory = Memory(psutil.Process(service.proc.pid), lambda: sum(released.values()))
    try:
        print(f"kerasgrade serve --workers {args.workers}: serving after "
              f"{service.wait_ready():.0f} s")
        memory.start()
        gap = args.seconds / max(1, len(entries) - 1)
        start = time.monotonic()
        pending = list(entries)
        deadline = start + args.seconds + DRAIN_SECONDS
        while time.monotonic() < deadline:
            service.alive()
            now = time.monotonic()
            for n, entry in enumerate(entries):
                if entry.name or now < start + n * gap:
                    continue
                entry.name = submit(box, entry.student, entry.assignment, datetime.now(UTC),
                                    made[entry.assignment, entry.variant])
                entry.arrived = time.time()
                secret = (box / entry.name / "submission_secret.txt").read_text()
                entry.feedback = (course.exchange / COURSE_ID / "feedback"
                                  / md5_feedback_name(secret, entry.assignment))
            stamp = time.time()
            for entry in list(pending):
                if entry.feedback is not None and entry.feedback.exists():
                    entry.fetchable = stamp
                    released[entry.name] = 1
                    pending.remove(entry)
            if not pending:
                break
            time.sleep(0.2)
        events = service.events()
    finally:
        memory.done.set()
        service.stop()
    return report(args, course, entries, events, memory)


def report(args: argparse.Namespace, course: Course, entries: list[Entry],
           events: list[dict[str, object]], memory: Memory) -> int:
    done = [e for e in entries if e.fetchable]
    latencies = [e.fetchable - e.arrived for e in done]
    graded = Counter(e["inbound"] for e in events if e["event"] == "graded")
    twice = sum(1 for n in graded.values() if n > 1)
    scores: dict[tuple[str, str], set[float]] = defaultdict(set)
    for entry in done:
        stored = (course.root / ".kerasgrade" / "results" / entry.assignment
                  / f"{entry.student}.json")
        scores[entry.assignment, entry.variant].add(json.loads(stored.read_text())
                                                    ["result"]["score"])
    same = all(len(s) == 1 for s in scores.values())
    window = min(args.window, max(1, len(done) // 2))
    service_first, service_last, worker_first, worker_last = memory.peaks(
        window, len(done) - window)
    for (aid, variant), got in sorted(scores.items()):
        print(f"{aid} {variant}: scores {sorted(got)}")
    print(f"latency s: mean {statistics.mean(latencies):.1f}, max {max(latencies):.1f}; "
          f"memory MB, first {window} / last {window} releases: service {service_first:.0f} / "
          f"{service_last:.0f}, a worker's tree {worker_first:.0f} / {worker_last:.0f}")
    lost = len(entries) - len(done)
    print(f"submissions: {len(entries)} p50_s: {percentile(latencies, 50):.1f} "
          f"p95_s: {percentile(latencies, 95):.1f} "
          f"queue_efficiency: {queue_efficiency(events, args.workers):.2f} lost: {lost} "
          f"graded_twice: {twice} same_score_per_notebook: {'yes' if same else 'no'} "
          f"service_mb_first: {service_first:.0f} service_mb_last: {service_last:.0f} "
          f"worker_mb_first: {worker_first:.0f} worker_mb_last: {worker_last:.0f} "
          f"scan_p95_ms: {scan_p95_ms(course):.2f}")
    return 1 if lost or twice or not same else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--submissions", type=int, default=500)
    p.add_argument("--seconds", type=float, default=600.0, help="length of the burst")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--window", type=int, default=50,
                   help="releases at the start and at the end whose memory is compared")
    p.add_argument("--keep", type=Path, help="build and keep the course folder here")
    args = p.parse_args()
    args.sample = True
    base = prepare(args, "kerasgrade-burst-")
    try:
        course = Course(base)
        course.build(ASSIGNMENTS)
        return run(args, course)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
