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
import ast
import contextlib
import csv
import ctypes
import dataclasses
import hashlib
import importlib.metadata
import io
import json
import multiprocessing
import os
import resource
import shutil
import signal
import socket
import tempfile
import time
import traceback
import urllib.parse
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import nbformat
import psutil
from nbformat.v4 import new_output
from nbgrader import utils as nbgrader_utils
from nbgrader.utils import find_all_files
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

import kerasgrade
from kerasgrade import sandbox, sanitize
from kerasgrade.course import assignments
from kerasgrade.course.layout import GRADES_CSV, REPORTS
from kerasgrade.execute.options import ExecOptions
from kerasgrade.frontends import selftest
from kerasgrade.frontends.nbgrader.bridge import check_line, facts_bundle
from kerasgrade.grade import failed_result, grade_notebook
from kerasgrade.report import feedback, gradebook
from kerasgrade.report.results import SubmissionResult
from kerasgrade.sandbox.policy import private_paths

STATE_DIR = Path(".kerasgrade") / "results"
CSV_FIELDS = ("student", "assignment", "score", "max_score", "late_penalty", "status", "reason")
TIMESTAMP = "timestamp.txt"
# A worker's kernel peaks near 0.7 GB on the MNIST sample and 1.3 GB on full MNIST, beside its
# resident inspector (TensorFlow imported, a forked child per measurement): 1.1-1.4 GB and
# 1.9-2.0 GB measured per worker. The default pool never plans more workers than memory holds.
WORKER_MEMORY = 2048 * 2**20
# Where grading starts: the grader's process and the three it runs in the sandbox. Whatever
# these import from kerasgrade decides a grade; front ends, pages and step checks do not.
GRADING_ROOTS = ("kerasgrade.grade", "kerasgrade.measure.process",
                 "kerasgrade.execute.kernel.runner", "kerasgrade.execute.kernel.export_cell",
                 "kerasgrade.execute.kernel.setup_cell")
PR_SET_PDEATHSIG = 1
# Tries per submission when the grader fails on it (a worker died, the sandbox did not
# start): a second failure is reported, and a later run tries again.
ATTEMPTS = 2


class GraderFailure(RuntimeError):
    """The grader, not a submission, could not go on: exit non-zero."""


@dataclass(frozen=True)
class Job:
    """One submission, self-contained so that a worker on another machine can grade it."""

    student: str
    assignment: str
    source: str  # the submitted path relative to the course root, as the result records it
    filename: str
    notebook: bytes
    release: bytes | None  # the released notebook: locked cells are restored from it
    options: ExecOptions
    host_share: dict[str, int] = field(default_factory=dict)  # Dask: host -> tasks at once


@dataclass
class Submission:
    student: str
    folder: Path
    path: Path | None  # None: nothing gradable was found, `problem` says why
    problem: str = ""


# ---------------------------------------------------------------------------------------
# Worker side


def grade_job(job: Job) -> dict[str, Any]:
    """Grade one submission where this runs (pool process or Dask worker); write nothing."""
    started = time.monotonic()
    with sandbox.claim_slot() as slot, tempfile.TemporaryDirectory(prefix="kerasgrade-job-") as tmp:
        work = Path(tmp)
        notebook = work / job.filename
        notebook.write_bytes(job.notebook)
        if job.release is not None:
            release = work / "assignments" / job.assignment / f"{job.assignment}.ipynb"
            release.parent.mkdir(parents=True)
            release.write_bytes(job.release)
        threads = job.options.threads or max(1, _cores() // job.host_share.get(_dask_host(), 1))
        options = dataclasses.replace(job.options, slot=slot, threads=threads,
                                      resident_inspector=True)
        executed = work / "executed.ipynb"
        result = grade_notebook(notebook, job.assignment, job.student, options, root=work,
                                executed_to=executed)
        executed_text = executed.read_text() if executed.exists() else None
    result.notebook = job.source
    return {
        "result": result.to_dict(with_facts=True),
        "executed": executed_text,
        "worker": {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "slot": slot,
            "threads": threads,
            # ru_maxrss is in KiB on Linux: the worker process's own peak, kernels not included
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "seconds": time.monotonic() - started,
        },
    }


def _cores() -> int:
    return len(os.sched_getaffinity(0))


def _dask_host() -> str:
    try:
        from distributed import get_worker

        return urllib.parse.urlsplit(get_worker().address).hostname or ""
    except (ImportError, ValueError):  # not in a Dask worker
        return ""


def _die_with_parent(parent: int) -> None:
    """Pool initializer: a killed `kerasgrade grade` takes its workers (and their sandboxes,
    which die with their parent) along instead of leaving them grading for nobody."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


# ---------------------------------------------------------------------------------------
# Parent side


def discover(root: Path, assignment_id: str) -> list[Submission]:
    """One submission per student folder; the notebook named after the assignment, else the
    only notebook there."""
    found = []
    submitted = root / "submitted"
    for student_dir in sorted(p for p in submitted.iterdir()
                              if p.is_dir() and not p.name.startswith(".")):
        folder = student_dir / assignment_id
        if folder.is_dir():
            path, problem = pick_notebook(folder, assignment_id)
            found.append(Submission(student_dir.name, folder, path, problem))
    return found


def pick_notebook(folder: Path, assignment_id: str) -> tuple[Path | None, str]:
    """The notebook named after the assignment, else the only notebook in folder; or None and
    why not."""
    notebooks = sorted(p for p in folder.glob("*.ipynb") if p.is_file())
    named = folder / f"{assignment_id}.ipynb"
    if named in notebooks:
        return named, ""
    if len(notebooks) == 1:
        return notebooks[0], ""
    return None, (f"{len(notebooks)} notebooks were submitted and none is named {named.name}"
                  if notebooks else "no notebook was submitted")


def grading_files() -> list[Path]:
    """What grading runs: GRADING_ROOTS, the checks modules and every kerasgrade module they
    import (found by reading their imports), the spec, and the time limits."""
    package = Path(kerasgrade.__file__).resolve().parent

    def source(name: str) -> Path | None:
        base = package.joinpath(*name.split(".")[1:])
        return next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.is_file()),
                    None)

    # The checks modules are named by the spec and imported by name.
    todo = [*GRADING_ROOTS, *(f"kerasgrade.checks.{a.module}"
                              for a in assignments.ASSIGNMENTS.values())]
    files: set[Path] = set()
    while todo:
        name = todo.pop()
        path = source(name)
        if path is None or path in files:
            continue  # a name imported from a module, not a module
        files.add(path)
        # A module's parent packages run their __init__ when it is imported.
        todo += [name.rsplit(".", i)[0] for i in range(1, name.count("."))]
        for node in ast.walk(ast.parse(path.read_bytes())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kerasgrade"):
                todo += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                todo += [a.name for a in node.names if a.name.startswith("kerasgrade")]
    return sorted(files | {package / "execute" / "time_limits.json",
                           package / "course" / "assignments.toml"})


def grader_version(release: bytes | None) -> str:
    """What decides a grade besides the notebook: kerasgrade's grading code (grading_files),
    Keras and TensorFlow, and the released notebook whose locked cells are restored."""
    digest = hashlib.sha256()
    package = Path(kerasgrade.__file__).resolve().parent
    for path in grading_files():
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    for dist in ("keras", "tensorflow", "tensorflow-cpu"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            digest.update(f"{dist}={importlib.metadata.version(dist)}".encode())
    digest.update(release or b"")
    return f"{kerasgrade.__version__}+{digest.hexdigest()[:16]}"


def _write_atomic(path: Path, text: str) -> None:
    """Readers (and a rerun after a kill) see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class Publisher:
    """Everything the batch writes, in one process: reporters first, resume state last."""

    def __init__(self, root: Path, assignment_id: str, book: gradebook.GradebookWriter,
                 notebook_id: str) -> None:
        self.root = root
        self.assignment_id = assignment_id
        self.book = book
        self.notebook_id = notebook_id
        self.rows = {(row["assignment"], row["student"]): row for row in self._stored_rows()}

    def state_path(self, student: str) -> Path:
        return self.root / STATE_DIR / self.assignment_id / f"{student}.json"

    def stored(self, student: str) -> dict[str, Any] | None:
        path = self.state_path(student)
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None

    def publish(self, sub: Submission, result: SubmissionResult, state: dict[str, Any],
                executed: str | None = None) -> None:
        # Where nbgrader's formgrader and generate_feedback look for the graded notebook.
        folder = self.root / "autograded" / result.student / self.assignment_id
        graded = folder / f"{self.notebook_id}.ipynb"
        if executed is not None:
            _write_atomic(graded, autograded_notebook(executed, result))
        else:  # no run (a refused file): an older run's notebook would contradict the grade
            graded.unlink(missing_ok=True)
        self.sync(sub, result)
        self._reports(sub, result, state)

    def refresh(self, sub: Submission, state: dict[str, Any]) -> None:
        """An unchanged submission: the class-wide stores again (a new or reset gradebook is
        filled again), its reports again when its lateness changed (an extension, a due date)."""
        result = SubmissionResult.from_dict(state["result"])
        before = (result.late_penalty, result.seconds_late)
        self.sync(sub, result)
        if (result.late_penalty, result.seconds_late) != before:
            self._reports(sub, result, state)

    def _reports(self, sub: Submission, result: SubmissionResult, state: dict[str, Any]) -> None:
        """kerasgrade's own pages, nbgrader's timestamp.txt, then the resume state."""
        out = self.root / REPORTS / result.student / self.assignment_id
        result.write_gradescope(out / "results.json")
        feedback.write_page(result, out / "feedback.html")
        graded = self.root / "autograded" / result.student / self.assignment_id
        if graded.is_dir():
            self._carry_over(sub.folder, graded)
        state["result"] = result.to_dict(with_facts=True)
        _write_atomic(self.state_path(result.student), json.dumps(state))

    def _carry_over(self, submitted: Path, graded: Path) -> None:
        """What `nbgrader autograde` copies from submitted/ besides the notebooks, by nbgrader's
        own rule: timestamp.txt and submission_secret.txt, which generate_feedback and
        release_feedback need, and the student's other files. Links are passed over."""
        (graded / TIMESTAMP).unlink(missing_ok=True)  # a stale one would date the work wrong
        for name in find_all_files(str(submitted), self.book.settings.ignore() + ["*.ipynb"]):
            path = Path(name)
            if path.is_file() and not path.is_symlink():
                target = graded / path.relative_to(submitted)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)

    def sync(self, sub: Submission, result: SubmissionResult) -> None:
        """The class-wide stores: the gradebook, whose late penalty the result takes, and the
        class CSV."""
        self.book.record(result, self.notebook_id, gradebook.read_timestamp(sub.folder))
        late = self.book.assign_late_penalty(self.assignment_id, self.notebook_id,
                                             result.student)
        result.late_penalty, result.seconds_late = late.penalty, late.seconds_late
        self.rows[(self.assignment_id, result.student)] = _row(result)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, CSV_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows[key] for key in sorted(self.rows))
        _write_atomic(self.root / GRADES_CSV, buffer.getvalue())

    def _stored_rows(self) -> Iterator[dict[str, Any]]:
        for path in sorted((self.root / STATE_DIR).glob("*/*.json")):
            with contextlib.suppress(OSError, json.JSONDecodeError, KeyError, TypeError):
                yield _row(SubmissionResult.from_dict(json.loads(path.read_text())["result"]))


def _row(result: SubmissionResult) -> dict[str, Any]:
    return {"student": result.student, "assignment": result.assignment,
            "score": f"{result.score:g}", "max_score": f"{result.max_score:g}",
            "late_penalty": f"{result.late_penalty:g}", "status": result.status,
            "reason": result.reason}


def autograded_notebook(executed: str, result: SubmissionResult) -> str:
    """The executed notebook with what `nbgrader autograde` leaves in its graded cells: each
    check's verdict, and in the first the facts generate_feedback's report is drawn from."""
    nb = nbformat.reads(executed, as_version=4)
    checks = {c.name: c for c in result.checks}
    first = True
    for cell in nb.cells:
        check = checks.get(sanitize.grade_id(cell) or "")
        if cell.cell_type != "code" or not nbgrader_utils.is_grade(cell) or check is None:
            continue
        line = check_line(check)
        cell.outputs = ([new_output("display_data", data=facts_bundle(result.assignment,
                                                                      result.facts))]
                        if first and result.facts else [])
        cell.outputs.append(
            new_output("stream", name="stdout", text=line + "\n") if check.passed else
            new_output("error", ename="CheckFailed", evalue=line, traceback=line.splitlines()))
        first = False
    return nbformat.writes(nb)


@dataclass
class Outcome:
    """A finished local job, read like a future: result() returns the payload or raises."""

    payload: dict[str, Any] | None
    failure: str = ""
    retrying: bool = False  # failed, and sent to another worker: not yet the job's outcome

    def result(self) -> dict[str, Any]:
        if self.payload is None:
            raise WorkerFailure(self.failure)
        return self.payload


class WorkerFailure(RuntimeError):
    """A job's worker died or the grader failed inside it: never the student's score."""


def _worker(conn: Connection, parent: int) -> None:
    """A pool process: grade the jobs it is sent until it gets None (or its parent dies)."""
    _die_with_parent(parent)
    while (job := conn.recv()) is not None:
        try:
            outcome = Outcome(grade_job(job))
        except Exception as exc:  # the grader's own failure, reported by the parent
            outcome = Outcome(None, traceback.format_exception_only(exc)[-1].strip())
        conn.send(outcome)


class _Pool:
    """Worker processes that each grade one job at a time. Unlike ProcessPoolExecutor, which
    breaks every pending future when one of its processes dies, a dead worker (the OOM
    killer, kill -9) costs only the job it held: that job is retried and a new worker
    replaces it."""

    def __init__(self, size: int) -> None:
        self.size = size
        # spawn: forking this process would copy its threads (rich's refresher) and database
        # connection into every worker.
        self.context = multiprocessing.get_context("spawn")
        self.idle: list[tuple[BaseProcess, Connection]] = []
        self.running: dict[Connection, tuple[BaseProcess, Job]] = {}

    def _start(self) -> None:
        mine, theirs = self.context.Pipe()
        process = self.context.Process(target=_worker, args=(theirs, os.getpid()),
                                       name="kerasgrade-worker", daemon=True)
        process.start()
        theirs.close()
        self.idle.append((process, mine))

    def run(self, jobs: list[Job]) -> Iterator[tuple[Job, Outcome]]:
        """(job, outcome) pairs as they finish; a failed job is retried up to ATTEMPTS times,
        then its last failure is the outcome."""
        pending = deque(jobs)
        attempts: Counter[str] = Counter()
        for _ in range(min(self.size, len(jobs))):
            self._start()
        while pending or self.running:
            while pending and self.idle:
                process, conn = self.idle.pop()
                try:
                    conn.send(pending[0])
                except OSError:  # it died while idle: a new one takes the job
                    process.join()
                    conn.close()
                    self._start()
                    continue
                job = pending.popleft()
                attempts[job.student] += 1
                self.running[conn] = (process, job)
            ready = wait([*self.running, *(p.sentinel for p, _ in self.running.values())])
            for conn, (process, job) in list(self.running.items()):
                outcome = self._receive(conn, process, ready)
                if outcome is None:  # still grading
                    continue
                del self.running[conn]
                if outcome.payload is None and attempts[job.student] < ATTEMPTS:
                    yield job, Outcome(None, outcome.failure, retrying=True)
                    pending.appendleft(job)
                else:
                    yield job, outcome

    def _receive(self, conn: Connection, process: BaseProcess,
                 ready: list[Any]) -> Outcome | None:
        """The worker's outcome if it has one, a failure if it died (then it is replaced)."""
        if conn in ready:
            try:
                outcome: Outcome = conn.recv()
                self.idle.append((process, conn))
                return outcome
            except (EOFError, OSError):
                pass  # it died mid-answer
        elif process.sentinel not in ready:
            return None
        process.join()
        conn.close()
        self._start()
        return Outcome(None, f"its worker process (pid {process.pid}) died, exit code "
                       f"{process.exitcode}")

    def close(self) -> None:
        """Idle workers end by themselves (their resident inspectors clean up); running ones,
        on an interrupt, are killed with their sandboxes."""
        for _, conn in self.idle:
            with contextlib.suppress(OSError):
                conn.send(None)
        for process, _ in self.running.values():
            process.kill()
        workers = [*self.idle, *((p, c) for c, (p, _) in self.running.items())]
        for process, conn in workers:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join()
            conn.close()


def _run_local(jobs: list[Job], workers: int) -> Iterator[tuple[Job, Any]]:
    """(job, outcome) pairs from a pool of spawned processes, one kernel each."""
    pool = _Pool(workers)
    try:
        yield from pool.run(jobs)
    finally:
        pool.close()


def _run_dask(jobs: list[Job], address: str) -> Iterator[tuple[Job, Any]]:
    """The same task on a Dask distributed cluster; workers must be able to import kerasgrade."""
    from distributed import Client
    from distributed import as_completed as dask_completed

    with Client(address, timeout="30s") as client:
        share: dict[str, int] = {}
        for info in client.scheduler_info(n_workers=-1)["workers"].values():
            share[info["host"]] = share.get(info["host"], 0) + info["nthreads"]
        futures = {
            client.submit(grade_job, dataclasses.replace(job, host_share=share), pure=False,
                          retries=ATTEMPTS - 1,
                          key=f"kerasgrade-{job.assignment}-{job.student}-{os.urandom(4).hex()}"):
            job
            for job in jobs
        }
        for future in dask_completed(list(futures)):
            yield futures[future], future


def default_workers() -> int:
    by_memory = psutil.virtual_memory().available // WORKER_MEMORY
    return max(1, min(_cores(), by_memory))


def main(args: argparse.Namespace) -> int:
    # soft_wrap: one line per submission in logs, however narrow the terminal
    console = Console(highlight=False, soft_wrap=True)
    try:
        return run(args, console)
    except GraderFailure as exc:
        console.print(f"kerasgrade grade: {exc}", style="red", markup=False)
        return 2


def run(args: argparse.Namespace, console: Console) -> int:
    root = Path(args.root).resolve()
    aid = args.assignment
    if aid not in assignments.ASSIGNMENTS:
        known = ", ".join(assignments.ASSIGNMENTS)
        raise GraderFailure(f"unknown assignment {aid!r}; known: {known}")
    if not (root / "submitted").is_dir():
        raise GraderFailure(f"{root / 'submitted'} does not exist: is {root} the course folder?")
    if not args.no_sandbox and (reason := sandbox.unavailable_reason()):
        raise GraderFailure(reason)
    release_path = root / "assignments" / aid / f"{aid}.ipynb"
    release = release_path.read_bytes() if release_path.exists() else None
    version = grader_version(release)
    workers = args.workers or default_workers()
    threads = max(1, _cores() // workers)
    # The scheduler's hosts pick their own thread counts (see grade_job).
    options = ExecOptions(sandbox=not args.no_sandbox, hide=private_paths(root),
                          threads=None if args.scheduler else threads)
    try:  # before the gradebook opens: a grader that cannot run records nothing
        with sandbox.claim_slot() as slot:
            selftest.check([aid], dataclasses.replace(options, slot=slot, threads=threads))
    except selftest.SelfTestFailed as exc:
        raise GraderFailure(str(exc)) from None

    settings = gradebook.course_settings(root, args.db)
    with gradebook.GradebookWriter(settings) as book:
        try:
            book.check_late_plugin()
            notebook_id = book.ensure_assignment(aid, release_path)
        except gradebook.GradebookMismatch as exc:
            raise GraderFailure(str(exc)) from None
        publisher = Publisher(root, aid, book, notebook_id)
        batch = Batch(root, aid, publisher, version, console)
        jobs = batch.plan(discover(root, aid), options, release, args.force)
        if args.scheduler:
            if args.workers:
                console.print("--workers is ignored with --scheduler: the cluster decides")
            where = f"on the Dask cluster at {args.scheduler}"
            outcomes = _run_dask(jobs, args.scheduler) if jobs else iter(())
        else:
            where = f"with {workers} worker(s), {threads} TensorFlow thread(s) each"
            outcomes = _run_local(jobs, workers) if jobs else iter(())
        console.print(f"{aid}: {len(jobs)} to grade {where}; {batch.skipped} unchanged "
                      "(skipped; --force regrades)")
        batch.collect(jobs, outcomes)
    return 1 if batch.grader_failures else 0


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

    def plan(self, subs: list[Submission], options: ExecOptions, release: bytes | None,
             force: bool) -> list[Job]:
        """Jobs for what must be graded; unchanged results are re-synced, unreadable folders
        get their error result here."""
        jobs = []
        for sub in subs:
            self.subs[sub.student] = sub
            if sub.path is None:
                result = failed_result(self.assignment_id, sub.student,
                                       str(sub.folder.relative_to(self.root)), sub.problem)
                self._finish(sub, result, self._state(result, "", {}))
                continue
            data = sub.path.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            stored = self.publisher.stored(sub.student)
            if (not force and stored and stored.get("notebook_sha256") == digest
                    and stored.get("grader") == self.version):
                self.publisher.refresh(sub, stored)
                self.skipped += 1
                continue
            jobs.append(Job(sub.student, self.assignment_id,
                            str(sub.path.relative_to(self.root)), sub.path.name, data, release,
                            options))
        return jobs

    def _state(self, result: SubmissionResult, digest: str,
               worker: dict[str, Any]) -> dict[str, Any]:
        return {"notebook_sha256": digest, "grader": self.version,
                "graded_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "worker": worker, "result": result.to_dict(with_facts=True)}

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
                    self.console.print(f"{job.student}: the grader failed (not the "
                                       f"submission): {future.failure}; retrying",
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
            self.console.print(f"{job.student}: the grader failed (not the submission; nothing "
                               f"recorded, the next run retries): {where}", style="red",
                               markup=False)

    def _finish(self, sub: Submission, result: SubmissionResult, state: dict[str, Any],
                executed: str | None = None) -> None:
        self.publisher.publish(sub, result, state, executed)
        if result.status == "graded":
            self.graded += 1
        else:
            self.failed += 1
        reason = f" ({result.reason})" if result.reason else ""
        seconds = result.timings.get("total")
        took = f" in {seconds:.0f} s" if seconds else ""
        # markup=False: reasons quote the student's own error messages, brackets included
        self.console.print(f"{result.student}: {result.score:g}/{result.max_score:g} "
                           f"{result.status}{reason}{took}", markup=False)
