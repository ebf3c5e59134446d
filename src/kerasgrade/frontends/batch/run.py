"""`kerasgrade grade ASSIGNMENT`: every submission of a course, N at a time, resumable.

Reads nbgrader's layout, ROOT/submitted/<student>/<assignment>/*.ipynb, and writes
  ROOT/.kerasgrade/results/<assignment>/<student>.json  the result, facts included, with the
                                                        fingerprints that make it reusable
  ROOT/reports/<student>/<assignment>/results.json      Gradescope
  ROOT/reports/<student>/<assignment>/feedback.html
  ROOT/autograded/<student>/<assignment>/               as `nbgrader autograde` leaves it: the
                                                        executed notebook (formgrader,
                                                        generate_feedback), timestamp.txt
  ROOT/kerasgrade-grades.csv                            the class, every assignment
  nbgrader's gradebook                                  scores and late penalties, for
                                                        `nbgrader export` and formgrader
nbgrader's feedback/ is left to `nbgrader generate_feedback`.

Each submission goes through `grade_notebook`, the path `pytest autograder/` takes, on the
workers of the Grader (frontends/grader.py) that `kerasgrade serve` uses too; this process
alone writes, as results arrive, the resume state last. A submission whose notebook and grader
are unchanged since it was graded is skipped unless --force.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from sqlalchemy.exc import SQLAlchemyError

from kerasgrade.course.layout import SUBMITTED, Submission, discover
from kerasgrade.frontends.grader import (
    Failed,
    Graded,
    Grader,
    GraderFailure,
    Request,
)
from kerasgrade.report.text import failure_line, printable
from kerasgrade.settings import Kerasgrade


def grade_course(settings: Kerasgrade, app: Any, root: Path, assignment: str) -> int:
    # soft_wrap: one line per submission in logs, however narrow the terminal
    console = Console(highlight=False, soft_wrap=True)
    try:
        if not (root / SUBMITTED).is_dir():
            raise GraderFailure(f"{root / SUBMITTED} does not exist: is {root} the course "
                                "folder?")
        with Grader(settings, root, app) as grader:
            grader.spec(assignment)  # an unknown id refuses the run
            return run(grader, assignment, console)
    except GraderFailure as exc:
        # First line and exit code both say it: scripts and benchmarks read one or the other.
        console.print(f"kerasgrade grade: refused, nothing graded: {exc}", style="red",
                      markup=False)
        return 2
    except SQLAlchemyError as exc:  # the gradebook locked by another program, or not one
        console.print(f"kerasgrade grade: stopped, the gradebook could not be used: "
                      f"{failure_line(exc.orig or exc)}. What is reported above is recorded; "
                      "run again when the gradebook is free to grade the rest", style="red",
                      markup=False)
        return 2


def run(grader: Grader, aid: str, console: Console) -> int:
    submissions, left_out = discover(grader.root, aid)
    for line in left_out:
        console.print(line, style="red", markup=False)
    # Each notebook is read once: what is to be graded decides whether the self-test runs.
    ready, to_run = grader.sort([
        Request(aid, sub, sub.path.read_bytes() if sub.path is not None else None,
               reuse=not grader.settings.force) for sub in submissions])
    if to_run:
        # Only when something is to be graded: an unchanged class costs no kernel start.
        # Before anything is written: a grader that cannot run records nothing.
        for line in grader.preflight([aid]):
            console.print(line)
    grader.publisher(aid)  # a gradebook that does not fit refuses the run before any grading
    batch = Batch(grader, aid, console)
    for handed, outcome in ready:  # unchanged results re-synced, unreadable folders' errors
        batch.settle(handed.sub, outcome)
    if grader.settings.scheduler and grader.settings.workers:
        console.print("--workers is ignored with --scheduler: the cluster decides")
    console.print(f"{aid}: {len(to_run)} to grade {grader.where()}; {batch.skipped} "
                  "unchanged (skipped; --force regrades)")
    batch.collect(to_run)
    return 1 if batch.grader_failures else 0


class Batch:
    """Planning, progress and bookkeeping of one run."""

    def __init__(self, grader: Grader, assignment_id: str, console: Console) -> None:
        self.grader = grader
        self.assignment_id = assignment_id
        self.console = console
        self.skipped = self.graded = self.failed = self.grader_failures = 0

    def collect(self, to_grade: list[Request]) -> None:
        started = time.monotonic()
        columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("done {task.fields[done]} · failed {task.fields[failed]} · "
                              "remaining {task.fields[remaining]}"),
                   TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
        # The bar counts this run's jobs; folders refused while planning are already counted.
        graded, failed = self.graded, self.failed
        with Progress(*columns, console=self.console) as progress:
            task = progress.add_task(self.assignment_id, total=len(to_grade), done=0,
                                     failed=0, remaining=len(to_grade))
            finished = 0
            for handed, outcome in self.grader.grade(to_grade):
                if isinstance(outcome, Failed) and outcome.retrying:
                    self.console.print(printable(f"{handed.sub.student}: the grader failed "
                                                 f"(not the submission): {outcome.line}; "
                                                 "retrying"), style="yellow", markup=False)
                    continue
                finished += 1
                self.settle(handed.sub, outcome)
                progress.update(task, completed=finished, done=self.graded - graded,
                                failed=self.failed - failed + self.grader_failures,
                                remaining=len(to_grade) - finished)
        seconds = time.monotonic() - started
        rate = f", {60 * len(to_grade) / seconds:.1f}/min" if to_grade and seconds else ""
        self.console.print(
            f"{self.assignment_id}: graded {self.graded}, failed {self.failed}, skipped "
            f"{self.skipped}, grader failures {self.grader_failures} in {seconds:.0f} s{rate}")

    def settle(self, sub: Submission, outcome: Graded | Failed) -> None:
        """A result published (a stored one re-synced), or the grader's failure reported."""
        if isinstance(outcome, Graded) and outcome.reused:
            # The class-wide stores again (a new or reset gradebook is filled again), its
            # reports again when its lateness changed (an extension, a due date).
            self.grader.publisher(self.assignment_id).refresh(sub.folder, outcome.state)
            self.skipped += 1
            return
        if isinstance(outcome, Graded):
            try:
                self._finish(sub, outcome)
                return
            except Exception as exc:  # the grader's own failure, as a worker's is
                outcome = Failed(failure_line(exc))
        # Reported, never a score: nothing is recorded and the next run retries.
        self.grader_failures += 1
        self.console.print(printable(f"{sub.student}: the grader failed (not the submission; "
                                     f"nothing recorded, the next run retries): "
                                     f"{outcome.line}"), style="red", markup=False)

    def _finish(self, sub: Submission, graded: Graded) -> None:
        result = self.grader.publish(sub.folder, graded)
        if result.status == "graded":
            self.graded += 1
        else:
            self.failed += 1
        reason = f" ({result.reason})" if result.reason else ""
        seconds = result.timings.get("total")
        took = f" in {seconds:.0f} s" if seconds else ""
        # markup=False, printable: the id is a folder's name and reasons quote the student's own
        # error messages, brackets, escape sequences and line breaks included
        self.console.print(printable(f"{result.student}: {result.score:g}/{result.max_score:g} "
                                     f"{result.status}{reason}{took}"), markup=False)
