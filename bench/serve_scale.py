"""`kerasgrade serve` as the course grows: the inbound scan with 10,000 old entries in the
exchange, and the queue's work with 2,000 submissions in it (#34).

    python bench/serve_scale.py [--old 10000] [--new 5] [--polls 200] [--poll 0.05]
                                [--queue 2000] [--keep DIR]

The exchange is laid out as `nbgrader release_assignment` and `nbgrader submit` leave it:
inbound/<student>+<assignment>+<time>+<random>/ holding the notebook, timestamp.txt and
submission_secret.txt, with their modes. Its --old entries were read before: in the service's
queue, nine in ten graded and released, one in ten quarantined. Then the scan runs --polls
times, --poll s apart, as Service.scan runs it: the exchange checked, the names still to read
asked of the Inbox and each new one, once nbgrader would have finished it, read
(inbound.read) and queued. --new entries arrive in the first half of the polls; a poll within
a file-system clock tick of a change lists the folder (listing_p95_ms), a later one does not.

The queue: --queue submissions of many students to four assignments, replacements among them,
a tenth collected; the work of one due() and one add() counted in SQLite VM steps (the same on
any machine), at --queue and at a tenth of it. A growth near 1 is work that depends on the
submissions concerned only; a step that reads the whole table for each waiting row shows as a
growth near 10.

The last line:
    old_entries: N polls: N scan_p50_ms: X scan_p95_ms: X listing_p95_ms: X target_ms: 50
    missed: N queue_entries: N due_ms: X due_steps_per_entry: X due_growth: X add_steps: N
    add_growth: X
(one line); missed: new entries the scan had not queued by its last poll. The benchmark
exits 1 when scan_p95_ms reaches the target or an entry is missed.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import io
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kerasgrade import settings
from kerasgrade.frontends.serve import inbound
from kerasgrade.frontends.serve.exchange import Exchange
from kerasgrade.frontends.serve.inbox import Inbox
from kerasgrade.frontends.serve.queue import Queue

COURSE_ID = "kerasgrade"
ASSIGNMENTS = ("01-first-network", "02-connected-networks", "03-convolutional-networks",
               "04-improving-networks")
TARGET_MS = 50.0
CAPS = inbound.Caps(file_bytes=10_000_000, total_bytes=30_000_000, files=100, depth=5)


EMPTY = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


def submit(box: Path, student: str, assignment: str, when: datetime,
           notebook: bytes = EMPTY) -> str:
    """One entry as nbgrader submit writes it (exchange/default/submit.py): its name, files
    and modes, the folder's set last."""
    stamp = when.strftime("%Y-%m-%d %H:%M:%S.%f %Z")
    name = f"{student}+{assignment}+{stamp}+{base64.urlsafe_b64encode(os.urandom(9)).decode()}"
    folder = box / name
    folder.mkdir()
    (folder / f"{assignment}.ipynb").write_bytes(notebook)
    (folder / inbound.TIMESTAMP).write_text(stamp)
    (folder / inbound.SECRET).write_text(base64.urlsafe_b64encode(os.urandom(24)).decode())
    for file in folder.iterdir():
        file.chmod(0o644)
    folder.chmod(0o777)
    return name


def exchange(root: Path, old: int, queue: Queue) -> Exchange:
    """A course's exchange with `old` entries the service has already read."""
    course = root / "course"
    course.mkdir()
    (course / "nbgrader_config.py").write_text(
        f"c = get_config()  # noqa: F821\nc.CourseDirectory.course_id = {COURSE_ID!r}\n"
        f"c.Exchange.root = {str(root / 'exchange')!r}\n")
    box = root / "exchange" / COURSE_ID / "inbound"
    box.mkdir(parents=True)
    box.chmod(0o2733)  # release_assignment's: students may write, not list
    start = datetime.now(UTC) - timedelta(days=90)
    # Setting up what came before is not what is measured: no sync to disk, no log lines.
    queue.db.execute("PRAGMA synchronous=OFF")
    with contextlib.redirect_stdout(io.StringIO()):
        for n in range(old):
            student, assignment = f"s{n % 2000:04d}", ASSIGNMENTS[n % len(ASSIGNMENTS)]
            name = submit(box, student, assignment, start + timedelta(seconds=600 * n))
            if n % 10 == 0:
                queue.quarantine(name, student, "its files add up to too many bytes", 0.0)
                continue
            queue.add(name, student, assignment, "then")
            queue.mark_graded(queue.entry(name), 1, 0.0)
            queue.move(name, "released")
    queue.db.execute("PRAGMA synchronous=FULL")
    return Exchange(settings.load(course)[1])


def scan(reader: Exchange, inbox: Inbox, queue: Queue, copies: Path) -> bool:
    """One poll's scan; True when it listed the folder."""
    listings = inbox.listings
    if reader.waiting():
        return False
    names = inbox.new()
    if names:
        folder = os.open(reader.inbound, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for raw in names:
                copy = copies / hashlib.sha256(raw).hexdigest()[:32]
                with contextlib.suppress(inbound.NotFinished):
                    got = inbound.read(folder, raw, inbound.claim(raw), copy, CAPS, [], None)
                    with contextlib.redirect_stdout(io.StringIO()):
                        queue.add(got.key, got.student, got.assignment,
                                  inbound.stamp(got.arrived))
        finally:
            os.close(folder)
    return inbox.listings > listings


def scan_figures(root: Path, old: int, new: int, polls: int, poll: float) -> dict[str, float]:
    queue = Queue(root / "queue.db")
    reader = exchange(root, old, queue)
    inbox = Inbox(reader.inbound, queue)
    inbox.new()  # the service's first poll reads the queue for every old name, once
    time.sleep(inbound.SETTLE_SECONDS)
    arrive = {polls // 2 * k // max(new, 1) for k in range(new)}
    times, listed, made = [], [], []
    for n in range(polls):
        if n in arrive:
            made.append(submit(reader.inbound, f"new{n:04d}", ASSIGNMENTS[1],
                               datetime.now(UTC)))
        start = time.perf_counter()
        lists = scan(reader, inbox, queue, root / "copies")
        times.append((time.perf_counter() - start) * 1000)
        if lists:
            listed.append(times[-1])
        time.sleep(poll)
    missed = len(made) - len(queue.known(made))
    queue.close()
    print(f"scan: {polls} polls, {len(listed)} listed the folder; {len(made) - missed} of "
          f"{len(made)} new entries queued")
    return {"scan_p50_ms": statistics.median(times), "scan_p95_ms": percentile(times, 95),
            "listing_p95_ms": percentile(listed, 95) if listed else 0.0, "missed": missed}


def percentile(values: list[float], pct: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1] if len(
        values) > 1 else values[0]


class Steps:
    """SQLite VM steps of the queue's connection, counted as they run."""

    def __init__(self, queue: Queue) -> None:
        self.count = 0
        queue.db.set_progress_handler(self._step, 1)

    def _step(self) -> int:
        self.count += 1
        return 0

    def of(self, work: Callable[[], object]) -> int:
        before = self.count
        work()
        return self.count - before


def queue_figures(path: Path, entries: int) -> dict[str, float]:
    rng = random.Random(34)
    queue = Queue(path)
    queue.db.execute("PRAGMA synchronous=OFF")  # the steps are counted, not the disk
    with contextlib.redirect_stdout(io.StringIO()):
        for n in range(entries):
            student = f"s{rng.randrange(max(entries // 3, 1)):04d}"  # some hand in twice
            name = f"{student}+{n}"
            queue.add(name, student, rng.choice(ASSIGNMENTS), "t")
            if n % 10 == 0 and queue.entry(name).state == "queued":
                queue.move(name, "collected")
        steps = Steps(queue)
        start = time.perf_counter()
        due = queue.due(time.time())
        due_ms = (time.perf_counter() - start) * 1000
        due_steps = steps.of(lambda: queue.due(time.time()))
        add_steps = steps.of(lambda: queue.add("late+x", "late", ASSIGNMENTS[0], "t"))
    queue.close()
    return {"due_ms": due_ms, "due_steps_per_entry": due_steps / max(len(due), 1),
            "add_steps": add_steps, "due": len(due)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=int, default=10_000)
    parser.add_argument("--new", type=int, default=5)
    parser.add_argument("--polls", type=int, default=200)
    parser.add_argument("--poll", type=float, default=0.05, help="seconds between polls")
    parser.add_argument("--queue", type=int, default=2000)
    parser.add_argument("--keep", type=Path, help="build here and keep it (default: a "
                        "temporary folder)")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="serve-scale-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        started = time.monotonic()
        scanned = scan_figures(root / "scan", args.old, args.new, args.polls, args.poll)
        (root / "queue").mkdir()
        small = queue_figures(root / "queue" / "small.db", max(args.queue // 10, 1))
        large = queue_figures(root / "queue" / "large.db", args.queue)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    print(f"queue: {args.queue} entries, {large['due']:.0f} due; at {args.queue // 10}: "
          f"{small['due_steps_per_entry']:.1f} steps per due entry, {small['add_steps']:.0f} "
          f"per add; {time.monotonic() - started:.0f} s in all")
    print(f"old_entries: {args.old} polls: {args.polls} "
          f"scan_p50_ms: {scanned['scan_p50_ms']:.3f} scan_p95_ms: {scanned['scan_p95_ms']:.3f} "
          f"listing_p95_ms: {scanned['listing_p95_ms']:.3f} target_ms: {TARGET_MS:g} "
          f"missed: {scanned['missed']:.0f} "
          f"queue_entries: {args.queue} due_ms: {large['due_ms']:.1f} "
          f"due_steps_per_entry: {large['due_steps_per_entry']:.1f} "
          f"due_growth: {large['due_steps_per_entry'] / small['due_steps_per_entry']:.2f} "
          f"add_steps: {large['add_steps']:.0f} "
          f"add_growth: {large['add_steps'] / small['add_steps']:.2f}")
    return 0 if scanned["scan_p95_ms"] < TARGET_MS and not scanned["missed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
