"""The loop of `kerasgrade serve`: read the inbound folder, queue, collect, grade on warm
workers, publish, generate and release the feedback, one student at a time.

Grading is the Grader's (frontends/grader.py), which the batch uses too: the same jobs on the
same pool, kept alive between submissions, and the same Publisher. Every step is recorded in
the queue (queue.py) before the next begins; a step redone after a kill costs little: a
submission whose notebook and grader are unchanged reuses its stored result instead of running
again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import pwd
import shutil
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError

from kerasgrade.course import assignments
from kerasgrade.course.layout import Submission, pick_notebook, release_notebook
from kerasgrade.frontends.grader import Graded, Grader, GraderFailure, Request
from kerasgrade.frontends.serve import inbound
from kerasgrade.frontends.serve.exchange import Exchange, ExchangeFailure
from kerasgrade.frontends.serve.inbound import NotFinished, Refused
from kerasgrade.frontends.serve.inbox import Inbox
from kerasgrade.frontends.serve.queue import Entry, Queue
from kerasgrade.lti.launches import rule_problem
from kerasgrade.lti.passback import Passback
from kerasgrade.lti.settings import LtiProblem, of_course
from kerasgrade.report import gradebook
from kerasgrade.report.text import failure_line, printable, say
from kerasgrade.settings import Kerasgrade

if TYPE_CHECKING:
    from kerasgrade.frontends.grader import Failed

SERVE_DIR = Path(".kerasgrade") / "serve"


def _unix_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _machine_trouble(exc: Exception) -> bool:
    """Trouble of the machine, the course or the grader, not of one submission: the service
    pauses and tries again rather than blame (quarantine) the entry at hand."""
    if isinstance(exc, OSError):
        return exc.errno in inbound.MACHINE_ERRNOS
    return isinstance(exc, sqlite3.Error | SQLAlchemyError | GraderFailure | ExchangeFailure
                      | gradebook.GradebookMismatch)


def _written(sub: inbound.Arrival) -> str:
    """The log's note: what timestamp.txt said, beside the arrival lateness is judged on."""
    return f"timestamp.txt said {printable(sub.written, 60)}; arrived {inbound.stamp(sub.arrived)}"


def quarantine_listing(root: Path) -> int:
    """`kerasgrade serve --quarantine`: every inbound entry the service refused, and why."""
    path = root / SERVE_DIR / "queue.db"
    if not path.is_file():
        say(f"no service state in {root}: nothing quarantined")
        return 0
    queue = Queue(path)
    try:
        rows = queue.quarantined()
    finally:
        queue.close()
    for when, name, student, reason in rows:
        say(f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(when))}  "
            f"{printable(name, 120)}  claims {printable(student) or '?'}: {reason}")
    say(f"{len(rows)} quarantined entr{'y' if len(rows) == 1 else 'ies'}")
    return 0


class Signalled(BaseException):
    """SIGTERM or SIGINT: stop where we are; the queue resumes the step on the next start."""


def serve(settings: Kerasgrade, app: Any, root: Path) -> int:
    received: list[str] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        received.append(signal.Signals(signum).name)
        raise Signalled(received[-1])

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    service = None
    try:
        service = Service(settings, app, root)
        service.run(received)
    except GraderFailure as exc:
        say(f"kerasgrade serve: {exc}")
        return 2
    except Signalled as why:
        say(f"stopping on {why}; unfinished submissions resume on the next start")
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):  # a second signal must not cut close()
            signal.signal(signum, signal.SIG_IGN)
        if service is not None:
            service.close()
    return 0


class Service:
    def __init__(self, settings: Kerasgrade, app: Any, root: Path) -> None:
        self.root = root
        if not (self.root / "nbgrader_config.py").is_file():
            raise GraderFailure(f"no nbgrader_config.py in {self.root}: is it the course folder?")
        lti = of_course(root, app)  # the hub's users must be named as the roster names them
        if lti.configured() and (problem := rule_problem(root, lti.user_id)):
            raise GraderFailure(problem)
        self.settings = settings
        self.grader = Grader(settings, root, app)
        # Submissions started and not yet finished, by student and assignment (one each).
        self.flight: dict[tuple[str, str], Entry] = {}
        os.chdir(self.root)  # nbgrader's apps resolve the course's paths from here
        self.exchange = Exchange(app)
        if problem := self.exchange.problem():
            raise GraderFailure(problem)
        if waiting := self.exchange.waiting():
            say(f"waiting: {waiting}")
        self.state = self.root / SERVE_DIR
        self.queue = Queue(self.state / "queue.db", self.state / "events.jsonl")
        self.inbox = Inbox(self.exchange.inbound, self.queue)
        coursedir = self.exchange.coursedir
        self.caps = inbound.Caps(file_bytes=coursedir.max_file_size * 1000,
                                 total_bytes=coursedir.max_dir_size * 1000,
                                 files=settings.max_files, depth=settings.max_depth)
        self._check_identity()
        # After the check has read (or made) the gradebook the LMS's roster goes into.
        try:
            self.lti = Passback(self.root, app, self.grader.course)  # grades to the LMS, if set
        except LtiProblem as exc:
            raise GraderFailure(str(exc)) from None
        self.released = [a for a in assignments.ASSIGNMENTS
                         if release_notebook(self.root, a).is_file()]
        if not self.released:
            raise GraderFailure(f"no released notebook under {self.root / 'assignments'}")
        # Once, at start-up: a submission then pays only for its own grading.
        for line in self.grader.preflight(self.released, warm=True):
            say(line)
        say(f"serving {self.exchange.inbound} with "
            + (f"the Dask cluster at {settings.scheduler}" if settings.scheduler
               else f"{self.grader.workers} warm worker(s)"))

    def _check_identity(self) -> None:
        """Say at start whom the service can tell apart, and refuse where it cannot."""
        roster = self._roster()
        if self.settings.trust_inbound_names:
            say("warning: c.Kerasgrade.trust_inbound_names is set: a submission's student "
                "is the name its folder gives, and any student can submit as another")
        elif roster and not any(_unix_user(s) for s in roster):
            raise GraderFailure(
                f"none of the {len(roster)} students on the roster is a Unix user of this "
                "machine, so the owner of an inbound folder cannot tell students apart (every "
                "server under one Unix user?) and any student could submit as another. Give "
                "each student a Unix user, or set c.Kerasgrade.trust_inbound_names = True "
                "in nbgrader_config.py to accept that risk (docs/security.md)")
        if roster is not None and not roster:
            say("warning: the gradebook has no students: every submission is quarantined until "
                "they are added (nbgrader db student add/import), or set "
                "c.Kerasgrade.open_course = True")

    def close(self) -> None:
        self.grader.close()
        self.queue.close()
        self.lti.close()

    def run(self, signals: list[str] | None = None) -> None:
        """Until a signal (its name is appended to signals before it is raised)."""
        pause = self.settings.poll_seconds
        while True:
            try:
                self.scan()
                busy = self.step()
                pause = self.settings.poll_seconds
            except Exception as exc:
                if signals:  # raised where a library made it an error of its own (Dask's client)
                    raise Signalled(signals[0]) from None
                # The machine, the course or the grader itself, never one submission (each is
                # handled in a guard of its own): a full disk, a locked database, a gradebook
                # away. Nothing is lost: every step is read again from the queue, later.
                pause = min(60.0, max(self.settings.poll_seconds, pause * 2))
                say(f"paused: {failure_line(exc)}; trying "
                    f"again in {pause:g} s")
                time.sleep(pause)
                continue
            if not busy:
                time.sleep(self.settings.poll_seconds)

    def scan(self) -> None:
        """Read the new inbound entries; queue each one that passes, quarantine the others."""
        if self.exchange.waiting():
            return
        names = self.inbox.new()
        if not names:
            return
        folder = os.open(self.exchange.inbound, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            arrivals = []
            roster = self._roster()
            for raw in names:
                with self._guard(inbound.key(raw), raw):
                    arrivals.append(self._read(folder, raw, roster))
        finally:
            os.close(folder)
        for sub in sorted(filter(None, arrivals), key=lambda a: (a.arrived, a.key)):
            for old in self.queue.add(sub.key, sub.student, sub.assignment,
                                      inbound.stamp(sub.arrived), detail=_written(sub)):
                self._drop_copy(old)

    def _read(self, folder: int, raw: bytes, roster: set[str] | None
              ) -> inbound.Arrival | None:
        """One inbound entry checked and copied; None while nbgrader still writes it."""
        found = inbound.claim(raw)
        if found.assignment not in self.released:
            raise Refused(f"there is no released assignment {printable(found.assignment)!r}")
        owner = os.stat(raw, dir_fd=folder, follow_symlinks=False).st_uid
        if not self.settings.trust_inbound_names and (
                why := inbound.owner_problem(found.student, owner)):
            raise Refused(why)
        if roster is not None and found.student not in roster:
            raise Refused(f"{found.student} is not on the course's roster")
        try:
            return inbound.read(folder, raw, found, self._copy(found.key), self.caps,
                                self.grader.course.ignore(),
                                None if self.settings.trust_inbound_names else owner)
        except NotFinished:
            return None

    @contextlib.contextmanager
    def _guard(self, name: str, raw: bytes | None = None) -> Iterator[None]:
        """One entry's failure quarantines that entry alone; the machine's own trouble (a full
        disk, a locked database) pauses the service instead and loses nothing."""
        try:
            yield
        except Exception as exc:
            if _machine_trouble(exc):
                raise
            reason = (str(exc) if isinstance(exc, Refused) else "the grader failed on it: "
                      + failure_line(exc))
            student = ""
            with contextlib.suppress(Refused):
                student = inbound.claim(raw if raw is not None else name.encode()).student
            self.queue.quarantine(name, student, reason, time.time())
            self._drop_copy(name)

    def _roster(self) -> set[str] | None:
        """The gradebook's students, whom the service grades; None in an open course."""
        if self.settings.open_course:
            return None
        with self.grader.course.open() as gb:
            return {student.id for student in gb.students}

    def _copy(self, name: str) -> Path:
        """Where the service keeps its checked copy of an inbound entry until collect."""
        return self.state / "arrived" / hashlib.sha256(name.encode()).hexdigest()[:32]

    def _drop_copy(self, name: str) -> None:
        shutil.rmtree(self._copy(name), ignore_errors=True)

    def step(self) -> bool:
        """Keep every worker busy: take the gradings that finish within a poll, give each
        free worker the next due submission (the queue read again), then publish and release
        the finished ones, so that no worker waits for the others started with it, nor for
        the pages. False when nothing was due, in flight or finished."""
        done = []
        for one, graded in self.grader.finished(self.settings.poll_seconds if self.flight
                                                else 0):
            key = one.sub.student, one.assignment
            if isinstance(graded, Graded) or not graded.retrying:
                done.append((self.flight.pop(key), graded))
            else:  # still in flight: its job went to another worker
                self._settle(self.flight[key], graded)
        try:
            due = self.queue.due(time.time())
            self._fill(due, {(e.student, e.assignment) for e, _ in done})
        finally:  # results in hand are published even when the machine's trouble pauses us
            for entry, graded in done:
                self._settle(entry, graded)
        return bool(due or self.flight or done)

    def _fill(self, due: list[Entry], finishing: set[tuple[str, str]]) -> None:
        """Release what a restart left graded; start the first due submissions, in order, while
        a worker is free. finishing: graded but not yet published (still `collected`)."""
        for entry in due:
            if entry.state == "graded":  # a restart after the gradebook write
                with self._guard(entry.name):
                    self._release(entry)
        to_grade = []
        for entry in due:
            if len(to_grade) + len(self.flight) >= self.grader.capacity:
                break
            key = entry.student, entry.assignment
            if entry.state == "graded" or key in self.flight or key in finishing:
                continue
            with self._guard(entry.name):
                if (ready := self._admit(entry)) is not None:
                    to_grade.append(ready)
        if to_grade:
            self._start(to_grade)

    def _admit(self, entry: Entry) -> Entry | None:
        """A due submission ready to grade (collected), or None: refused, deferred or already
        graded."""
        if entry.state != "queued":
            return entry if entry.state == "collected" else None
        count, last = self.queue.attempts(entry.student, entry.assignment)
        limit = self.settings.max_attempts
        if limit and count >= limit:
            self._refuse(entry, limit)
            return None
        ready_at = last + self.settings.cooloff_seconds
        if count and time.time() < ready_at:
            # Told once, when the wait begins.
            self.queue.defer(entry.name, ready_at, None if entry.deferred else "deferred",
                             detail=f"cool-off until {time.ctime(ready_at)}")
            return None
        self._collect(entry)
        self.queue.move(entry.name, "collected")
        self._drop_copy(entry.name)
        return self.queue.entry(entry.name)

    def _collect(self, entry: Entry) -> None:
        """The service's copy of this entry into submitted/, as nbgrader collect would."""
        self.exchange.collect(self._copy(entry.name), entry.student, entry.assignment,
                              entry.timestamp)

    def _refuse(self, entry: Entry, limit: int) -> None:
        """Past the limit: collected (kept in submitted/), not graded; a page says so."""
        self._collect(entry)
        try:
            self.exchange.refusal(entry.student, entry.assignment, limit)
            self.exchange.release_feedback(entry.student, entry.assignment)
        except ExchangeFailure as exc:
            self._fault(entry, str(exc))
            return
        self.queue.move(entry.name, "refused", detail=f"all {limit} graded attempts used")
        self._drop_copy(entry.name)

    def _fault(self, entry: Entry, detail: str) -> None:
        """The grader's failure: no attempt counts; the submission is tried again later."""
        self.queue.defer(entry.name, time.time() + self.settings.fault_retry_seconds, "fault",
                         detail=detail)

    def _start(self, entries: list[Entry]) -> None:
        """Started: each one's stored result where its notebook was graded before (a restart
        after the gradebook write, or the same notebook again), else a worker grades it. One
        started while no other is graded trains on every core the worker may have."""
        handed: dict[tuple[str, str], tuple[Request, Entry]] = {}
        for entry in entries:
            with self._guard(entry.name):
                self.queue.emit("started", entry.student, entry.assignment, entry.name)
                folder = self.exchange.submitted(entry.student, entry.assignment)
                path, problem = pick_notebook(folder, entry.assignment)
                handed[entry.student, entry.assignment] = (Request(
                    entry.assignment, Submission(entry.student, folder, path, problem),
                    path.read_bytes() if path is not None else None, reuse=True), entry)
        ready, to_run = self.grader.sort([one for one, _ in handed.values()])
        for one, graded in ready:
            self._settle(handed[one.sub.student, one.assignment][1], graded)
        alone = len(to_run) == 1 and not self.flight
        for one in to_run:  # unguarded: the grader's failure pauses the service, as before
            self.grader.submit(one, alone=alone)
            self.flight[one.sub.student, one.assignment] = handed[one.sub.student,
                                                                  one.assignment][1]

    def _settle(self, entry: Entry, graded: Graded | Failed) -> None:
        """A finished grading published and released, or the grader's failure handled."""
        with self._guard(entry.name):
            if isinstance(graded, Graded):
                self._publish(entry, graded)
            elif graded.retrying:  # handed to a worker again: in the journal, as proof
                self.queue.emit("retried", entry.student, entry.assignment, entry.name,
                                detail=f"the grader failed (not the submission): {graded.line}")
            else:  # no attempt counts; tried again later
                self._fault(entry, graded.line)

    def _publish(self, entry: Entry, graded: Graded) -> None:
        """Gradebook, pages and stored result with the attempt on them; then the attempt
        counts (one transaction), then the feedback goes to the student."""
        count, _ = self.queue.attempts(entry.student, entry.assignment)
        graded = dataclasses.replace(graded, result=dataclasses.replace(
            graded.result, attempt=count + 1, max_attempts=self.settings.max_attempts))
        folder = self.exchange.submitted(entry.student, entry.assignment)
        result = self.grader.publish(folder, graded)
        self.queue.mark_graded(entry, result.attempt, time.time(),
                          detail=f"{result.score:g}/{result.max_score:g}")
        self._release(self.queue.entry(entry.name))

    def _release(self, entry: Entry) -> None:
        """nbgrader generate_feedback and release_feedback, for this student only."""
        try:
            self.exchange.generate_feedback(entry.student, entry.assignment)
            self.exchange.release_feedback(entry.student, entry.assignment)
        except ExchangeFailure as exc:
            self._fault(entry, str(exc))
            return
        self.queue.move(entry.name, "released")
        # The outbox; never waits on the LMS.
        self.lti.released(entry.student, self.grader.spec(entry.assignment))
