"""The one grader of every front end: its preflight, its workers, its gradebook writers and
Publishers, and the result store a rerun resumes from.

`kerasgrade grade` plans a class and `kerasgrade serve` watches the exchange; both hand this
object submissions and take back complete results. Workers (local processes kept for the
grader's life, or Dask workers with a scheduler) run `grade_task` and only return results;
this process alone writes. `pytest autograder/` and Gradescope's runner grade in process with
it (`grade_here`), one notebook at a time.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kerasgrade import frontends, sandbox
from kerasgrade.course.assignments import Assignment
from kerasgrade.course.layout import Submission, graded_dir, private_paths, release_notebook
from kerasgrade.frontends import selftest
from kerasgrade.frontends.batch.plan import Task, grader_version
from kerasgrade.frontends.batch.worker import (
    ATTEMPTS,
    DaskPool,
    Dispatch,
    Outcome,
    Pool,
    cores,
    default_workers,
)
from kerasgrade.grade import failed_result, grade_notebook
from kerasgrade.jobs import warm as warm_paths
from kerasgrade.jobs.options import ExecOptions
from kerasgrade.report import gradebook
from kerasgrade.report.publish import Publisher
from kerasgrade.report.store import result_state, reusable, stored_state
from kerasgrade.report.text import failure_line
from kerasgrade.results import GraderFault, SubmissionResult
from kerasgrade.sandbox import Limits
from kerasgrade.settings import Kerasgrade


class GraderFailure(RuntimeError):
    """The grader, not a submission, could not go on: exit non-zero."""


@dataclasses.dataclass(frozen=True)
class Release:
    """What an assignment's jobs share: its released notebook, read once."""

    notebook: bytes | None  # sent with each job: locked cells are restored from it
    version: str  # what a stored result must match to be reused (plan.grader_version)


@dataclasses.dataclass(frozen=True)
class Request:
    """A submission handed to the grader: its folder, its notebook's bytes (read once)."""

    assignment: str
    sub: Submission
    notebook: bytes | None  # None: nothing to run (sub.problem says why)
    reuse: bool = False  # an unchanged notebook keeps its stored result


@dataclasses.dataclass(frozen=True)
class Failed:
    """The grader's own failure on a submission (a worker died, the sandbox did not start)."""

    line: str
    retrying: bool = False  # sent to another worker: not yet the submission's outcome


@dataclasses.dataclass(frozen=True)
class Graded:
    """A complete result, with the state stored beside it and the executed notebook."""

    result: SubmissionResult
    state: dict[str, Any]
    executed: str | None
    reused: bool = False  # the stored result of an unchanged notebook: nothing ran


class Grader:
    """One grader for a course folder, opened by a front end and closed by it."""

    def __init__(self, settings: Kerasgrade, root: Path, app: Any = None, *,
                 hide: tuple[Path, ...] | None = None, in_process: bool = False) -> None:
        """app: nbgrader's, holding the course's configuration (None: read when needed).
        hide: what student code may not see (default: the course's private folders).
        in_process: grade here, one notebook at a time (`pytest autograder/`, Gradescope's
        container), with no workers and no gradebook."""
        # Where the grader is the service or the batch, a missing sandbox refuses at once;
        # in process, the self-test names it with its fix.
        if settings.sandbox and not in_process and (reason := sandbox.unavailable_reason()):
            raise GraderFailure(reason)
        self.settings = settings
        self.root = root
        self.app = app
        self.in_process = in_process
        self.workers = 1 if in_process else settings.workers or default_workers()
        self.threads = max(1, cores() // self.workers)
        limits = (Limits(memory_mb=settings.memory_mb, wall_seconds=settings.notebook_timeout)
                  if settings.notebook_timeout else None)
        # The scheduler's hosts pick their own thread counts (worker.grade_task); in process,
        # TensorFlow takes the machine's.
        self.options = ExecOptions(
            sandbox=settings.sandbox, hide=private_paths(root) if hide is None else hide,
            threads=None if settings.scheduler or in_process else self.threads,
            data_dir=Path(settings.data_dir) if settings.data_dir else None,
            cell_timeout=settings.cell_timeout or None, limits=limits,
            memory_mb=settings.memory_mb)
        self.pool: Dispatch | None = (None if in_process else DaskPool(settings.scheduler)
                                      if settings.scheduler else Pool(self.workers))
        self.flight: dict[tuple[str, str], Request] = {}  # submitted, not yet finished
        self.specs: dict[str, Assignment] = {}
        self.releases: dict[str, Release] = {}
        self.books: dict[str, tuple[gradebook.GradebookWriter, Publisher]] = {}

    @functools.cached_property
    def course(self) -> gradebook.CourseSettings:
        """The course's gradebook and nbgrader settings, read once."""
        return gradebook.course_settings(self.root, self.settings.db or None,
                                         self.app.config if self.app is not None else None)

    @property
    def capacity(self) -> int:
        """How many submissions to grade at once: the local workers, or the Dask cluster's
        worker threads (its size read at each connection; --workers until then)."""
        if isinstance(self.pool, DaskPool) and self.pool.threads:
            return self.pool.threads
        return self.workers

    def where(self) -> str:
        if self.settings.scheduler:
            return f"on the Dask cluster at {self.settings.scheduler}"
        return f"with {self.workers} worker(s), {self.threads} TensorFlow thread(s) each"

    def preflight(self, assignment_ids: list[str], warm: bool = False) -> list[str]:
        """Before anything is graded: the self-test, on the path the workers take (a zygote, a
        kernel forked from it, a measuring job), which raises GraderFailure when it fails;
        then, if warm, the local workers started. Returns what it did, to be said."""
        started = time.monotonic()
        # Workers take the warm path (a zygote); in process the cold one.
        tested = self.options if self.in_process else dataclasses.replace(
            self.options, threads=self.threads, warm=self.options.sandbox)
        try:
            selftest.check([self.spec(aid) for aid in assignment_ids], tested)
        except selftest.SelfTestFailed as exc:
            raise GraderFailure(str(exc)) from None
        finally:
            warm_paths.close_current()
        said = [f"self-test passed in {time.monotonic() - started:.0f} s"]
        if warm and self.pool is not None:
            said.append(self._warm_up(assignment_ids[0]))
        return said

    def spec(self, assignment: str) -> Assignment:
        """The assignment an id names, looked up once for the grader (GraderFailure: none)."""
        if assignment not in self.specs:
            try:
                self.specs[assignment] = frontends.assignment(assignment)
            except KeyError as exc:
                raise GraderFailure(exc.args[0]) from None
        return self.specs[assignment]

    def release(self, assignment: str) -> Release:
        """The assignment's released notebook and the grader's version for it, read once."""
        if assignment not in self.releases:
            path = release_notebook(self.root, assignment)
            notebook = path.read_bytes() if path.exists() else None
            self.releases[assignment] = Release(notebook, grader_version(notebook))
        return self.releases[assignment]

    def publisher(self, assignment: str) -> Publisher:
        """An assignment's Publisher, its gradebook writer opened (and checked) once."""
        if assignment not in self.books:
            spec = self.spec(assignment)
            writer = gradebook.GradebookWriter(self.course)
            try:
                writer.check_late_plugin()
                notebook_id = writer.ensure_assignment(
                    spec, release_notebook(self.root, assignment))
            except gradebook.GradebookMismatch as exc:
                writer.__exit__()
                raise GraderFailure(str(exc)) from None
            self.books[assignment] = (writer,
                                      Publisher(self.root, spec, writer, notebook_id))
        return self.books[assignment][1]

    def task(self, student: str, assignment: str, path: Path, notebook: bytes,
             options: ExecOptions | None = None) -> Task:
        """A submission as a worker grades it: everything it needs, nothing of the course."""
        return Task(student, self.spec(assignment), str(path.relative_to(self.root)), path.name,
                    notebook, self.release(assignment).notebook, options or self.options)

    def stored(self, assignment: str, student: str, notebook: bytes) -> Graded | None:
        """The stored result of this very notebook by this very grader, if there is one."""
        state = stored_state(self.root, assignment, student)
        if state is None or not reusable(state, notebook, self.release(assignment).version):
            return None
        graded = graded_dir(self.root, student, assignment)
        executed = next((p.read_text() for p in graded.glob("*.ipynb")), None)
        return Graded(SubmissionResult.from_dict(state["result"]), state, executed, reused=True)

    def unreadable(self, assignment: str, student: str, folder: Path, problem: str) -> Graded:
        """A submission folder with nothing to run: its error result, nothing executed."""
        result = failed_result(self.spec(assignment), student,
                               str(folder.relative_to(self.root)), problem)
        return Graded(result, result_state(self.release(assignment).version, result, None, {}),
                      None)

    def sort(self, subs: list[Request]
             ) -> tuple[list[tuple[Request, Graded | Failed]], list[Request]]:
        """What needs no run, with its result (a folder with nothing to run gets its error
        result, an unchanged notebook its stored one where reuse), and what the workers must
        grade."""
        ready: list[tuple[Request, Graded | Failed]] = []
        to_run = []
        for handed in subs:
            sub, assignment = handed.sub, handed.assignment
            try:
                if sub.path is None or handed.notebook is None:
                    ready.append((handed, self.unreadable(assignment, sub.student, sub.folder,
                                                          sub.problem)))
                elif handed.reuse and (stored := self.stored(assignment, sub.student,
                                                             handed.notebook)):
                    ready.append((handed, stored))
                else:
                    to_run.append(handed)
            except Exception as exc:  # the grader's own state (its store): never a score
                ready.append((handed, Failed(failure_line(exc))))
        return ready, to_run

    def grade(self, subs: list[Request]) -> Iterator[tuple[Request, Graded | Failed]]:
        """Grade on the workers, all at once; each result as it is ready. A Failed is the
        grader's own failure, never a score."""
        for handed in subs:  # a gradebook that does not fit stops before any grading
            self.publisher(handed.assignment)
        for handed in subs:
            self.submit(handed)
        while self.flight:
            yield from self.finished(None)

    def submit(self, handed: Request, alone: bool = False) -> None:
        """Hand a submission with a notebook to the workers; its result comes from `finished`.
        alone: nothing else is graded meanwhile, so it trains on every core a local worker
        may have rather than its share (grades do not depend on the thread count:
        tests/execute/test_warm.py)."""
        assert handed.sub.path is not None and handed.notebook is not None
        self.publisher(handed.assignment)  # a gradebook that does not fit: before any grading
        options = self.options
        if alone and isinstance(self.pool, Pool):
            options = dataclasses.replace(options, threads=cores())
        assert self.pool is not None
        self.pool.submit(self.task(handed.sub.student, handed.assignment, handed.sub.path,
                                   handed.notebook, options))
        self.flight[handed.sub.student, handed.assignment] = handed

    def finished(self, timeout: float | None) -> Iterator[tuple[Request, Graded | Failed]]:
        """The submitted submissions that finish within timeout (None: until one does), each
        with its result; a retrying Failed is sent to a worker again, not yet an outcome."""
        if self.pool is None:
            return
        for job, outcome in self.pool.finished(timeout):
            key = job.student, job.assignment
            if isinstance(outcome, Outcome) and outcome.retrying:
                yield self.flight[key], Failed(outcome.failure, retrying=True)
                continue
            handed = self.flight.pop(key)
            try:
                yield handed, self.outcome_of(job, outcome)
            except Exception as exc:  # the worker's failure, after its retries
                yield handed, Failed(failure_line(exc))

    def grade_here(self, path: Path, spec: Assignment, student: str = "",
                   root: Path | None = None) -> SubmissionResult:
        """One notebook graded in this process. A fault of the grader's machinery is retried as
        the workers retry it, then raised (GraderFault): never a student's score."""
        for _ in range(ATTEMPTS):
            try:
                return grade_notebook(path, spec, student, self.options,
                                      root=root or self.root)
            except GraderFault as fault:
                last = fault
        raise GraderFault(f"the grader failed on {path}, not the submission ({ATTEMPTS} "
                          f"attempts): {last}", last.stage)

    def _warm_up(self, assignment: str) -> str:
        """Each worker (each thread of each Dask worker) starts its zygote (TensorFlow
        imported) on the blank notebook, now rather than on the first student's time; what
        it did, to be said."""
        started = time.monotonic()
        release = self.release(assignment).notebook or b""
        assert self.pool is not None
        try:
            count = self.pool.warm(lambda i: Task(
                f"warm-up-{i}", self.spec(assignment), "warm-up.ipynb", "warm-up.ipynb",
                release, release, self.options))
        except (OSError, TimeoutError) as exc:
            raise GraderFailure(f"no Dask scheduler answers at {self.settings.scheduler}: "
                                f"{failure_line(exc)}") from None
        return f"{count} worker(s) warm in {time.monotonic() - started:.0f} s"

    def outcome_of(self, job: Task, outcome: Any) -> Graded:
        """A worker's outcome as a complete result; raises the grader's own failure."""
        payload = outcome.result()
        result = SubmissionResult.from_dict(payload["result"])
        version = self.release(job.assignment).version
        return Graded(result, result_state(version, result, job.notebook, payload["worker"]),
                      payload.get("executed"))

    def publish(self, folder: Path, graded: Graded) -> SubmissionResult:
        """Gradebook, pages, graded notebook and stored result; the result as published
        (its late penalty from the gradebook)."""
        publisher = self.publisher(graded.result.assignment)
        return publisher.publish(folder, graded.result, graded.state, graded.executed)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
        for writer, _ in self.books.values():
            writer.__exit__()
        self.books.clear()

    def __enter__(self) -> Grader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


