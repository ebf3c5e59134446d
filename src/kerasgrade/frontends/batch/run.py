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

Each submission goes through `grade_notebook`, the path `pytest autograder/` takes. Workers
(local processes, or Dask workers with --scheduler) run `grade_job` and only return results;
this process alone writes, as results arrive, the resume state last. A submission whose
notebook and grader are unchanged since it was graded is skipped unless --force.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import time
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
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

from kerasgrade import sandbox
from kerasgrade.course import assignments
from kerasgrade.course.layout import (
    SUBMITTED,
    Submission,
    discover,
    private_paths,
    release_notebook,
)
from kerasgrade.frontends import selftest
from kerasgrade.frontends.batch.plan import Job, grader_version, reusable
from kerasgrade.frontends.batch.worker import (
    Outcome,
    cores,
    default_workers,
    run_dask,
    run_local,
)
from kerasgrade.grade import failed_result
from kerasgrade.jobs import warm
from kerasgrade.jobs.options import ExecOptions
from kerasgrade.report import gradebook
from kerasgrade.report.publish import Publisher, stored_state
from kerasgrade.report.text import printable
from kerasgrade.results import SubmissionResult


class GraderFailure(RuntimeError):
    """The grader, not a submission, could not go on: exit non-zero."""


# ---------------------------------------------------------------------------------------
# Worker side


# ---------------------------------------------------------------------------------------
# Parent side


def main(args: argparse.Namespace) -> int:
    # soft_wrap: one line per submission in logs, however narrow the terminal
    console = Console(highlight=False, soft_wrap=True)
    try:
        return run(args, console)
    except GraderFailure as exc:
        # First line and exit code both say it: scripts and benchmarks read one or the other.
        console.print(f"kerasgrade grade: refused, nothing graded: {exc}", style="red",
                      markup=False)
        return 2


def run(args: argparse.Namespace, console: Console) -> int:
    root = Path(args.root).resolve()
    aid = args.assignment
    if aid not in assignments.ASSIGNMENTS:
        known = ", ".join(assignments.ASSIGNMENTS)
        raise GraderFailure(f"unknown assignment {aid!r}; known: {known}")
    if not (root / SUBMITTED).is_dir():
        raise GraderFailure(f"{root / SUBMITTED} does not exist: is {root} the course folder?")
    if not args.no_sandbox and (reason := sandbox.unavailable_reason()):
        raise GraderFailure(reason)
    release_path = release_notebook(root, aid)
    release = release_path.read_bytes() if release_path.exists() else None
    version = grader_version(release)
    workers = args.workers or default_workers()
    threads = max(1, cores() // workers)
    # The scheduler's hosts pick their own thread counts (see grade_job).
    options = ExecOptions(sandbox=not args.no_sandbox, hide=private_paths(root),
                          threads=None if args.scheduler else threads)
    subs = discover(root, aid)
    # Each notebook and its stored state are read once: what is to be graded decides whether
    # the self-test runs, then plans the jobs.
    found = {sub.student: (sub.path.read_bytes(), stored_state(root, aid, sub.student))
             for sub in subs if sub.path is not None}
    to_grade = {student for student, (data, stored) in found.items()
                if args.force or not reusable(stored, data, version)}
    if to_grade:
        # Only when something is to be graded: an unchanged class costs no kernel start.
        # Before the gradebook opens: a grader that cannot run records nothing.
        seconds = self_test([aid], options, threads)
        console.print(f"self-test passed in {seconds:.0f} s")

    settings = gradebook.course_settings(root, args.db)
    with gradebook.GradebookWriter(settings) as book:
        try:
            book.check_late_plugin()
            notebook_id = book.ensure_assignment(aid, release_path)
        except gradebook.GradebookMismatch as exc:
            raise GraderFailure(str(exc)) from None
        publisher = Publisher(root, aid, book, notebook_id)
        batch = Batch(root, aid, publisher, version, console)
        jobs = batch.plan(subs, found, to_grade, options, release)
        if args.scheduler:
            if args.workers:
                console.print("--workers is ignored with --scheduler: the cluster decides")
            where = f"on the Dask cluster at {args.scheduler}"
            outcomes = run_dask(jobs, args.scheduler) if jobs else iter(())
        else:
            where = f"with {workers} worker(s), {threads} TensorFlow thread(s) each"
            outcomes = run_local(jobs, workers) if jobs else iter(())
        console.print(f"{aid}: {len(jobs)} to grade {where}; {batch.skipped} unchanged "
                      "(skipped; --force regrades)")
        batch.collect(jobs, outcomes)
    return 1 if batch.grader_failures else 0


def result_state(version: str, result: SubmissionResult, digest: str,
                 worker: dict[str, Any]) -> dict[str, Any]:
    """The resume state stored with a result: what makes it reusable (plan.reusable)."""
    return {"notebook_sha256": digest, "grader": version,
            "graded_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "worker": worker, "result": result.to_dict(with_facts=True)}


def self_test(assignment_ids: list[str], options: ExecOptions, threads: int) -> float:
    """The path the workers take (a zygote, a kernel forked from it, a measuring job), once;
    raise GraderFailure when it fails. Returns the seconds it took."""
    started = time.monotonic()
    try:
        selftest.check(assignment_ids, dataclasses.replace(options, threads=threads,
                                                           warm=options.sandbox))
    except selftest.SelfTestFailed as exc:
        raise GraderFailure(str(exc)) from None
    finally:
        warm.close_current()
    return time.monotonic() - started


class Batch:
    """Planning, progress and bookkeeping of one run."""

    def __init__(self, root: Path, assignment_id: str, publisher: Publisher, version: str,
                 console: Console) -> None:
        self.root = root
        self.assignment_id = assignment_id
        self.publisher = publisher
        self.version = version
        self.console = console
        self.subs: dict[str, Submission] = {}
        self.skipped = self.graded = self.failed = self.grader_failures = 0

    def plan(self, subs: list[Submission],
             found: dict[str, tuple[bytes, dict[str, Any] | None]], to_grade: set[str],
             options: ExecOptions, release: bytes | None) -> list[Job]:
        """Jobs for what must be graded (found: each notebook and its stored state); unchanged
        results are re-synced, unreadable folders get their error result here."""
        jobs = []
        for sub in subs:
            self.subs[sub.student] = sub
            if sub.path is None:
                result = failed_result(self.assignment_id, sub.student,
                                       str(sub.folder.relative_to(self.root)), sub.problem)
                self._finish(sub, result, self._state(result, "", {}))
                continue
            data, stored = found[sub.student]
            if sub.student not in to_grade and stored is not None:
                self.publisher.refresh(sub.folder, stored)
                self.skipped += 1
                continue
            jobs.append(Job(sub.student, self.assignment_id,
                            str(sub.path.relative_to(self.root)), sub.path.name, data, release,
                            options))
        return jobs

    def _state(self, result: SubmissionResult, digest: str,
               worker: dict[str, Any]) -> dict[str, Any]:
        return result_state(self.version, result, digest, worker)

    def collect(self, jobs: list[Job], outcomes: Iterator[tuple[Job, Any]]) -> None:
        started = time.monotonic()
        columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("done {task.fields[done]} · failed {task.fields[failed]} · "
                              "remaining {task.fields[remaining]}"),
                   TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
        # The bar counts this run's jobs; folders refused while planning are already counted.
        graded, failed = self.graded, self.failed
        with Progress(*columns, console=self.console) as progress:
            task = progress.add_task(self.assignment_id, total=len(jobs), done=0, failed=0,
                                     remaining=len(jobs))
            finished = 0
            for job, future in outcomes:
                if isinstance(future, Outcome) and future.retrying:
                    self.console.print(printable(f"{job.student}: the grader failed (not the "
                                                 f"submission): {future.failure}; retrying"),
                                       style="yellow", markup=False)
                    continue
                finished += 1
                self._outcome(job, future)
                progress.update(task, completed=finished, done=self.graded - graded,
                                failed=self.failed - failed + self.grader_failures,
                                remaining=len(jobs) - finished)
        seconds = time.monotonic() - started
        rate = f", {60 * len(jobs) / seconds:.1f}/min" if jobs and seconds else ""
        self.console.print(
            f"{self.assignment_id}: graded {self.graded}, failed {self.failed}, skipped "
            f"{self.skipped}, grader failures {self.grader_failures} in {seconds:.0f} s{rate}")

    def _outcome(self, job: Job, future: Any) -> None:
        sub = self.subs[job.student]
        try:
            payload = future.result()
            result = SubmissionResult.from_dict(payload["result"])
            digest = hashlib.sha256(job.notebook).hexdigest()
            self._finish(sub, result, self._state(result, digest, payload["worker"]),
                         payload.get("executed"))
        except Exception as exc:  # the grader's own failure: reported, retried on the next run
            self.grader_failures += 1
            where = traceback.format_exception_only(exc)[-1].strip()
            self.console.print(printable(f"{job.student}: the grader failed (not the submission; "
                                         f"nothing recorded, the next run retries): {where}"),
                               style="red", markup=False)

    def _finish(self, sub: Submission, result: SubmissionResult, state: dict[str, Any],
                executed: str | None = None) -> None:
        self.publisher.publish(sub.folder, result, state, executed)
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
