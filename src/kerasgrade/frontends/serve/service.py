"""The loop of `kerasgrade serve`: read the inbound folder, queue, collect, grade on warm
workers, publish, generate and release the feedback, one student at a time.

Grading is the batch's (frontends/batch): the same jobs on the same pool, kept alive between
submissions, and the same Publisher. Every step is recorded in the queue (queue.py) before the
next begins; a step redone after a kill costs little: a submission whose notebook and grader
are unchanged reuses its stored result instead of running again.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from kerasgrade import sandbox
from kerasgrade.course import assignments
from kerasgrade.course.layout import graded_dir, pick_notebook, private_paths, release_notebook
from kerasgrade.frontends.batch.plan import Job, grader_version, reusable
from kerasgrade.frontends.batch.run import GraderFailure, result_state, self_test
from kerasgrade.frontends.batch.worker import Pool, cores, default_workers, run_dask
from kerasgrade.frontends.serve import config
from kerasgrade.frontends.serve.events import EventLog, say
from kerasgrade.frontends.serve.exchange import Exchange, ExchangeFailure
from kerasgrade.frontends.serve.queue import Entry, Queue
from kerasgrade.grade import failed_result
from kerasgrade.jobs.options import ExecOptions
from kerasgrade.report import gradebook
from kerasgrade.report.publish import Publisher, stored_state
from kerasgrade.results import SubmissionResult


class Stopped(BaseException):
    """SIGTERM or SIGINT: stop where we are; the queue resumes the step on the next start."""


def main(args: argparse.Namespace) -> int:
    def stop(signum: int, frame: FrameType | None) -> None:
        raise Stopped(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    service = None
    try:
        service = Service(args)
        service.run()
    except GraderFailure as exc:
        say(f"kerasgrade serve: {exc}")
        return 2
    except Stopped as why:
        say(f"stopping on {why}; unfinished submissions resume on the next start")
    finally:
        if service is not None:
            service.close()
    return 0


class Service:
    def __init__(self, args: argparse.Namespace) -> None:
        self.root = Path(args.root).resolve()
        if not (self.root / "nbgrader_config.py").is_file():
            raise GraderFailure(f"no nbgrader_config.py in {self.root}: is it the course folder?")
        if not args.no_sandbox and (reason := sandbox.unavailable_reason()):
            raise GraderFailure(reason)
        os.chdir(self.root)  # nbgrader's apps resolve the course's paths from here
        app = config.load(self.root)
        self.settings = config.KerasgradeServe(parent=app)
        self.poll = args.poll if args.poll is not None else self.settings.poll_seconds
        self.exchange = Exchange(app)
        if problem := self.exchange.problem():
            raise GraderFailure(problem)
        if waiting := self.exchange.waiting():
            say(f"waiting: {waiting}")
        state = self.root / config.SERVE_DIR
        self.queue = Queue(state / "queue.db")
        self.events = EventLog(state / "events.jsonl")
        self.course = gradebook.course_settings(self.root, args.db)
        self.scheduler = args.scheduler
        self.workers = args.workers or default_workers()
        threads = max(1, cores() // self.workers)
        self.options = ExecOptions(sandbox=not args.no_sandbox, hide=private_paths(self.root),
                                   threads=None if args.scheduler else threads)
        self.pool = None if args.scheduler else Pool(self.workers)
        self.books: dict[str, tuple[gradebook.GradebookWriter, Publisher, str]] = {}
        released = [a for a in assignments.ASSIGNMENTS
                    if release_notebook(self.root, a).is_file()]
        if not released:
            raise GraderFailure(f"no released notebook under {self.root / 'assignments'}")
        # Once, at start-up: a submission then pays only for its own grading.
        seconds = self_test(released, self.options, threads)
        say(f"self-test passed in {seconds:.0f} s")
        self._warm_up(released[0])
        say(f"serving {self.exchange.inbound} with "
            + (f"the Dask cluster at {self.scheduler}" if self.scheduler
               else f"{self.workers} warm worker(s)"))

    def _warm_up(self, assignment: str) -> None:
        """Each worker starts its zygote (TensorFlow imported) on the blank notebook, now
        rather than on the first student's time."""
        if self.pool is None:
            return
        release = release_notebook(self.root, assignment).read_bytes()
        jobs = [Job(f"warm-up-{i}", assignment, "warm-up.ipynb", "warm-up.ipynb", release,
                    release, self.options) for i in range(self.workers)]
        started = time.monotonic()
        for _ in self.pool.run(jobs):
            pass
        say(f"workers warm in {time.monotonic() - started:.0f} s")

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
        for book, _, _ in self.books.values():
            book.__exit__()
        self.queue.close()

    def run(self) -> None:
        while True:
            try:
                self.scan()
                busy = self.step()
            except (OSError, ExchangeFailure, gradebook.GradebookMismatch) as exc:
                # The course or the exchange, not a submission (a full disk, a folder's
                # permissions): said in one line, tried again on the next round.
                say(f"error: {traceback.format_exception_only(exc)[-1].strip()}")
                busy = False
            if not busy:
                time.sleep(self.poll)

    def scan(self) -> None:
        for sub in self.exchange.scan(self.queue.known()):
            if sub.assignment not in assignments.ASSIGNMENTS or not release_notebook(
                    self.root, sub.assignment).is_file():
                self.queue.ignore(sub.name, sub.student, sub.assignment, sub.timestamp)
                say(f"ignored {sub.name}: no released assignment {sub.assignment!r}")
                continue
            for old in self.queue.add(sub.name, sub.student, sub.assignment, sub.timestamp):
                self.events.emit("replaced", sub.student, sub.assignment, old,
                                 detail=f"by {sub.name}")
            self.events.emit("queued", sub.student, sub.assignment, sub.name)

    def step(self) -> bool:
        """Advance the first due submissions (as many as there are workers); False when none
        was due."""
        due = self.queue.due(time.time())
        if not due:
            return False
        for entry in due:
            if entry.state == "graded":  # a restart after the gradebook write
                self._release(entry)
        to_grade = [e for e in (self._admit(e) for e in due[:self.workers]) if e is not None]
        if to_grade:
            self._grade(to_grade)
        return True

    def _admit(self, entry: Entry) -> Entry | None:
        """A due submission ready to grade (collected), or None: refused, deferred, already
        graded, or replaced by a newer one that collect found."""
        if entry.state != "queued":
            return entry if entry.state == "collected" else None
        count, last = self.queue.attempts(entry.student, entry.assignment)
        limit = self.settings.max_attempts
        if limit and count >= limit:
            self._refuse(entry, limit)
            return None
        ready_at = last + self.settings.cooloff_seconds
        if count and time.time() < ready_at:
            self.queue.defer(entry.name, ready_at)
            if not entry.deferred:
                self.events.emit("deferred", entry.student, entry.assignment, entry.name,
                                 detail=f"cool-off until {time.ctime(ready_at)}")
            return None
        if not self._collect(entry):
            return None
        self.queue.move(entry.name, "collected")
        return self.queue.get(entry.name)

    def _collect(self, entry: Entry) -> bool:
        """nbgrader collect for this student; False when it did not leave this submission."""
        try:
            timestamp = self.exchange.collect(entry.student, entry.assignment)
        except ExchangeFailure as exc:
            self._fault(entry, str(exc))
            return False
        if timestamp != entry.timestamp:
            # A newer submission arrived after the scan and collect took it: that one is
            # graded under its own entry, at this one's place.
            self.queue.move(entry.name, "replaced")
            self.events.emit("replaced", entry.student, entry.assignment, entry.name,
                             detail="by a newer submission")
            return False
        return True

    def _refuse(self, entry: Entry, limit: int) -> None:
        """Past the limit: collected (nbgrader keeps it), not graded; a page says so."""
        if not self._collect(entry):
            return
        try:
            self.exchange.refusal(entry.student, entry.assignment, limit)
            self.exchange.release_feedback(entry.student, entry.assignment)
        except (ExchangeFailure, OSError) as exc:
            self._fault(entry, str(exc))
            return
        self.queue.move(entry.name, "refused")
        self.events.emit("refused", entry.student, entry.assignment, entry.name,
                         detail=f"all {limit} graded attempts used")

    def _fault(self, entry: Entry, detail: str) -> None:
        """The grader's failure: no attempt counts; the submission is tried again later."""
        self.queue.defer(entry.name, time.time() + self.settings.fault_retry_seconds)
        self.events.emit("fault", entry.student, entry.assignment, entry.name, detail=detail)

    def _book(self, assignment: str) -> tuple[Publisher, str]:
        """The gradebook writer and publisher of an assignment, opened once."""
        if assignment not in self.books:
            release_path = release_notebook(self.root, assignment)
            book = gradebook.GradebookWriter(self.course)
            try:
                book.check_late_plugin()
                notebook_id = book.ensure_assignment(assignment, release_path)
            except gradebook.GradebookMismatch as exc:
                book.__exit__()
                raise GraderFailure(str(exc)) from None
            version = grader_version(release_path.read_bytes())
            self.books[assignment] = (book, Publisher(self.root, assignment, book, notebook_id),
                                      version)
        _, publisher, version = self.books[assignment]
        return publisher, version

    def _grade(self, entries: list[Entry]) -> None:
        jobs: dict[tuple[str, str], tuple[Job, Entry, str]] = {}
        for entry in entries:
            self.events.emit("started", entry.student, entry.assignment, entry.name)
            folder = self.exchange.submitted(entry.student, entry.assignment)
            path, problem = pick_notebook(folder, entry.assignment)
            publisher, version = self._book(entry.assignment)
            if path is None:  # nothing to run: its error result, as the batch gives it
                result = failed_result(entry.assignment, entry.student,
                                       str(folder.relative_to(self.root)), problem)
                self._publish(entry, result, result_state(version, result, "", {}), None)
                continue
            data = path.read_bytes()
            stored = stored_state(self.root, entry.assignment, entry.student)
            if stored is not None and reusable(stored, data, version):
                # Graded before (a restart after the gradebook write, or the same notebook
                # again): the stored result, not a second run.
                graded = graded_dir(self.root, entry.student, entry.assignment)
                executed = next((p.read_text() for p in graded.glob("*.ipynb")), None)
                self._publish(entry, SubmissionResult.from_dict(stored["result"]), stored,
                              executed)
                continue
            release = release_notebook(self.root, entry.assignment).read_bytes()
            job = Job(entry.student, entry.assignment, str(path.relative_to(self.root)),
                      path.name, data, release, self.options)
            jobs[job.student, job.assignment] = (job, entry, version)
        for job, outcome in self._run([job for job, _, _ in jobs.values()]):
            _, entry, version = jobs[job.student, job.assignment]
            if getattr(outcome, "retrying", False):
                say(f"{job.student}: the grader failed (not the submission): "
                    f"{outcome.failure}; retrying")
                continue
            try:
                payload = outcome.result()
            except Exception as exc:  # the grader's failure: no attempt, retried later
                self._fault(entry, traceback.format_exception_only(exc)[-1].strip())
                continue
            result = SubmissionResult.from_dict(payload["result"])
            digest = hashlib.sha256(job.notebook).hexdigest()
            self._publish(entry, result, result_state(version, result, digest,
                                                      payload["worker"]),
                          payload.get("executed"))

    def _run(self, jobs: list[Job]) -> Iterator[tuple[Job, Any]]:
        if not jobs:
            return iter(())
        if self.pool is not None:
            return self.pool.run(jobs)
        return run_dask(jobs, self.scheduler or "")

    def _publish(self, entry: Entry, result: SubmissionResult, state: dict[str, Any],
                 executed: str | None) -> None:
        """Gradebook, pages and stored result with the attempt on them; then the attempt
        counts (one transaction), then the feedback goes to the student."""
        publisher, _ = self._book(entry.assignment)
        count, _ = self.queue.attempts(entry.student, entry.assignment)
        result.attempt, result.max_attempts = count + 1, self.settings.max_attempts
        folder = self.exchange.submitted(entry.student, entry.assignment)
        publisher.publish(folder, result, state, executed)
        self.queue.graded(entry, result.attempt, time.time())
        self.events.emit("graded", entry.student, entry.assignment, entry.name,
                         attempt=result.attempt, detail=f"{result.score:g}/{result.max_score:g}")
        self._release(self.queue.get(entry.name))

    def _release(self, entry: Entry) -> None:
        """nbgrader generate_feedback and release_feedback, for this student only."""
        try:
            self.exchange.generate_feedback(entry.student, entry.assignment)
            self.exchange.release_feedback(entry.student, entry.assignment)
        except ExchangeFailure as exc:
            self._fault(entry, str(exc))
            return
        self.queue.move(entry.name, "released")
        self.events.emit("released", entry.student, entry.assignment, entry.name,
                         attempt=entry.attempt)
