"""`kerasgrade serve`'s link to the LMS: each released grade is written to the outbox, and a
thread of its own sends the outbox, so that grading never waits on the LMS. Without
c.KerasgradeLti in nbgrader_config.py it does nothing."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kerasgrade.lti import grades
from kerasgrade.lti.launches import rule_problem
from kerasgrade.lti.outbox import REFUSED, Outbox
from kerasgrade.lti.settings import LtiProblem, of_course
from kerasgrade.report.gradebook import CourseSettings
from kerasgrade.report.text import failure_line, say

if TYPE_CHECKING:
    from kerasgrade.course.assignments import Assignment
    from kerasgrade.lti.send import Round

IDLE_SECONDS = 30.0  # the longest the thread sleeps with nothing due


class Passback:
    def __init__(self, root: Path, app: Any, course: CourseSettings) -> None:
        self.lti = of_course(root, app)
        self.on = self.lti.configured()
        if not self.on:
            return
        try:
            # The LMS's client only where a course uses it: the lti extra (joserfc).
            from kerasgrade.lti.client import Lms

            self.lti.check()
            self.lms = Lms(self.lti)
        except ImportError as exc:
            raise LtiProblem(f"c.KerasgradeLti is set but {exc.name} is not installed: "
                             "pip install 'kerasgrade[lti]'") from None
        self.root = root
        self.course = course
        self.outbox = Outbox(root)  # the service thread's connection
        self.wake = threading.Event()
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="lti-passback", daemon=True)
        self.thread.start()
        say(f"grades go to the LMS {self.lti.issuer} (c.KerasgradeLti)")

    def released(self, student: str, spec: Assignment) -> None:
        """Write the student's grade to the outbox and wake the sender; never raises: the
        outbox is the LMS's business, not the grading's."""
        if not self.on:
            return
        try:
            with self.course.open() as gb:
                score = grades.score(gb, self.lti, spec, student)
            if score is not None and self.outbox.add(score, time.time()) == REFUSED:
                say(f"LTI: {student} {spec.id}: not sent: {self.outbox.reason(student, spec.id)}")
        except Exception as exc:
            say(f"LTI: the grade of {student} for {spec.id} is not in the outbox: "
                f"{failure_line(exc)}; `kerasgrade lti sync {spec.id}` sends it later")
        self.wake.set()

    def close(self) -> None:
        if self.on:
            self.stopping = True
            self.wake.set()
            self.thread.join(self.lti.timeout_seconds * 2)
            self.outbox.close()

    def _run(self) -> None:
        from kerasgrade.lti.send import send_due

        outbox = Outbox(self.root)  # this thread's connection
        roster_at = time.time() if self.lti.roster_minutes > 0 else float("inf")
        told = None
        try:
            while not self.stopping:
                self.wake.clear()
                # The hub may be set to another naming rule while the service runs: then the
                # LMS's users are no longer these students, and nothing goes or comes.
                if problem := rule_problem(self.root, self.lti.user_id):
                    if problem != told:
                        say(f"LTI: scores wait and the roster is not read: {problem}")
                    told = problem
                    self.wake.wait(self.lti.retry_seconds)
                    continue
                told = None
                if time.time() >= roster_at:
                    roster_at = time.time() + self.lti.roster_minutes * 60
                    self._roster()
                try:
                    _tell(send_due(self.root, outbox, self.lms, self.lti))
                    due = outbox.next_due()
                except Exception as exc:  # a locked or broken outbox: tried again later
                    say(f"LTI: the outbox could not be sent: {failure_line(exc)}")
                    due = time.time() + self.lti.retry_seconds
                wait = min(IDLE_SECONDS, roster_at - time.time(),
                           IDLE_SECONDS if due is None else due - time.time())
                self.wake.wait(max(0.05, wait))
        finally:
            outbox.close()
            self.lms.close()

    def _roster(self) -> None:
        """The LMS's learners into the gradebook, the roster the service checks ids against;
        a failure is told and tried at the next period."""
        from kerasgrade.lti import nrps

        try:
            for line in nrps.refresh(self.root, self.lti, self.lms, self.course).lines():
                say(f"LTI roster: {line}")
        except Exception as exc:
            say(f"LTI: the LMS's roster could not be read: {failure_line(exc)}")


def _tell(done: Round) -> None:
    if done.sent:
        say(f"LTI: {done.sent} score(s) sent to the LMS")
    for line in done.refused:
        say(f"LTI: {line}")
    if done.waiting:
        say(f"LTI: scores wait: {done.waiting}")
