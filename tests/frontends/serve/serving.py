"""A course served by `kerasgrade serve`, and students who submit through nbgrader's exchange.

The students are nbgrader's own commands run as root with `--student ID` (CourseDirectory's
student_id, which submit and fetch_feedback take in place of the Unix user name): nbgrader's
own hook for a student id, so no second Unix user and no patched username is needed here
(tests/frontends/nbgrader/test_exchange.py covers the real second user).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from classroom import AID, REPO
from nbgrader.api import Gradebook
from nbgrader_course import make_course, nbgrader

from kerasgrade.course.demo import MISTAKES, answered

COURSE_ID = "kerasgrade"  # nbgrader_config.py's
SOLVED, DENSE32 = 14.0, 11.0
SLEEP = 30  # seconds: under the assignment's 60 s cell limit, longer than a short grading


def notebook(kind: str) -> nbformat.NotebookNode:
    return answered(REPO, AID) if kind == "solved" else answered(REPO, AID, MISTAKES[AID][kind])


def slow_solution(seconds: float = SLEEP) -> nbformat.NotebookNode:
    """The solution with a cell that only waits: graded as the solution, seconds longer."""
    nb = notebook("solved")
    nb.cells.insert(1, nbformat.v4.new_code_cell(f"import time\ntime.sleep({seconds})"))
    return nb


def served_course(tmp: Path, **traits: object) -> Path:
    """A course whose assignment is released to an exchange under tmp, with
    c.Kerasgrade traits. Its students are nbgrader's --student ids run as root, so the
    service takes them from the inbound names (test_hostile_exchange.py has real Unix users)."""
    traits = {"trust_inbound_names": True, "open_course": True, **traits}
    exchange = tmp / "exchange"
    exchange.mkdir()
    exchange.chmod(0o777 | 0o1000)  # as nbgrader's docs set it up
    course = make_course(tmp, AID, {})
    lines = [f"c.Exchange.root = {str(exchange)!r}",
             *(f"c.Kerasgrade.{k} = {v!r}" for k, v in traits.items())]
    with (course / "nbgrader_config.py").open("a") as f:
        f.write("\n" + "\n".join(lines) + "\n")
    nbgrader(course, "generate_assignment", AID)
    nbgrader(course, "db", "assignment", "add", AID, "--duedate=2099-01-01 00:00:00 UTC")
    nbgrader(course, "release_assignment", AID)
    return course


@dataclass(frozen=True)
class Student:
    name: str
    desk: Path  # the student's folder for the course, with its own nbgrader_config.py

    @classmethod
    def at(cls, course: Path, name: str) -> Student:
        desk = course.parent / "desks" / name
        (desk / AID).mkdir(parents=True)
        exchange = course.parent / "exchange"
        (desk / "nbgrader_config.py").write_text(
            f"c = get_config()  # noqa: F821\nc.Exchange.root = {str(exchange)!r}\n"
            f"c.Exchange.cache = {str(desk / 'cache')!r}\n"
            f"c.CourseDirectory.course_id = {COURSE_ID!r}\n")
        return cls(name, desk)

    def submit(self, kind: str | nbformat.NotebookNode) -> str:
        """Hand in a notebook (a demo kind, or one given) with nbgrader submit; the inbound
        folder's name."""
        inbound = self.desk.parents[1] / "exchange" / COURSE_ID / "inbound"
        before = set(inbound.iterdir())
        path = self.desk / AID / f"{AID}.ipynb"
        if kind == "broken":
            path.write_text('{"cells": [')  # a notebook cut off mid-save
        else:
            nbformat.write(notebook(kind) if isinstance(kind, str) else kind, path)
        nbgrader(self.desk, "submit", AID, "--student", self.name)
        [new] = set(inbound.iterdir()) - before
        return new.name

    def fetch_feedback(self) -> list[str]:
        """The feedback pages nbgrader fetch_feedback brings, oldest submission first."""
        nbgrader(self.desk, "fetch_feedback", AID, "--student", self.name)
        pages = sorted((self.desk / AID / "feedback").glob(f"*/{AID}.html"))
        return [p.read_text(encoding="utf-8") for p in pages]


def start(course: Path, log: Path, env: dict[str, str] | None = None, workers: int = 1,
          args: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "kerasgrade", "serve", "--root",
                                 str(course), "--workers", str(workers), "--poll", "0.2", *args],
                                stdout=out, stderr=subprocess.STDOUT,
                                env=env or os.environ.copy())


def scores(course: Path) -> dict[str, float]:
    """The gradebook's score of each student's submission."""
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {s.student.id: s.score for s in gb.assignment_submissions(AID)}


def events(course: Path) -> list[dict[str, Any]]:
    path = course / ".kerasgrade" / "serve" / "events.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_for(course: Path, proc: subprocess.Popen[bytes], log: Path, event: str,
             count: int = 1, timeout: float = 600) -> list[dict[str, Any]]:
    """Wait until the events log holds `count` events of this kind; return them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [e for e in events(course) if e["event"] == event]
        if len(found) >= count:
            return found
        if proc.poll() is not None:
            raise AssertionError(f"the service exited ({proc.returncode}):\n"
                                 + log.read_text()[-4000:])
        time.sleep(0.2)
    raise AssertionError(f"no {count} {event!r} events in {timeout} s:\n"
                         + log.read_text()[-4000:])


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.terminate()
    return proc.wait(timeout=120)
