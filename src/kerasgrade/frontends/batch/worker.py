"""Where submissions are graded: pool processes or Dask workers; they grade and write nothing.

A dead worker costs only the job it held: the job is retried (ATTEMPTS) and the worker
replaced; a failure of the grader is never the student's score.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import multiprocessing
import os
import resource
import signal
import socket
import tempfile
import time
import traceback
import urllib.parse
from abc import ABC, abstractmethod
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import psutil

from kerasgrade import sandbox
from kerasgrade.course.layout import release_notebook
from kerasgrade.frontends.batch.plan import Task
from kerasgrade.grade import grade_notebook
from kerasgrade.report.text import say

# A worker's whole tree (the worker, its zygote with TensorFlow, the kernel forked from it)
# peaks at 1.21-1.41 GiB PSS on full MNIST (bench/grade_throughput.py, 2026-11-29). The default
# pool never plans more workers than memory holds.
WORKER_MEMORY = 1536 * 2**20


PR_SET_PDEATHSIG = 1


# Tries per submission when the grader fails on it (a worker died, the sandbox did not
# start): a second failure is reported, and a later run tries again.
ATTEMPTS = 2

# A Dask scheduler's address must answer within CONNECT_SECONDS at the first connection; while
# it is away, a new client tries for AWAY_CONNECT_SECONDS (the service goes on meanwhile), and
# a service or batch with nothing else to collect looks again every AWAY_PAUSE.
CONNECT_SECONDS = 30
AWAY_CONNECT_SECONDS = 2
AWAY_PAUSE = 1.0


def grade_task(job: Task) -> dict[str, Any]:
    """Grade one submission where this runs (pool process or Dask worker); write nothing."""
    started = time.monotonic()
    with sandbox.claim_slot() as slot, tempfile.TemporaryDirectory(prefix="kerasgrade-job-") as tmp:
        work = Path(tmp)
        notebook = work / job.filename
        notebook.write_bytes(job.notebook)
        if job.release is not None:
            release = release_notebook(work, job.assignment)
            release.parent.mkdir(parents=True)
            release.write_bytes(job.release)
        threads = job.options.threads or max(1, cores() // job.host_share.get(_dask_host(), 1))
        # Warm kernels need the sandbox's namespaces; --no-sandbox keeps plain processes.
        options = dataclasses.replace(job.options, slot=slot, threads=threads,
                                      warm=job.options.sandbox)
        executed = work / "executed.ipynb"
        result = dataclasses.replace(
            grade_notebook(notebook, job.spec, job.student, options, root=work,
                           executed_to=executed), notebook=job.source)
        executed_text = executed.read_text() if executed.exists() else None
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


def cores() -> int:
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
            outcome = Outcome(grade_task(job))
        except Exception as exc:  # the grader's own failure, reported by the parent
            outcome = Outcome(None, traceback.format_exception_only(exc)[-1].strip())
        conn.send(outcome)


class Dispatch(ABC):
    """Where jobs go as they come: submit one whenever, collect each as it finishes. The
    service keeps its workers busy this way (a free worker takes the next submission at once);
    the batch submits a whole class and drains it (`run`)."""

    @abstractmethod
    def submit(self, job: Task) -> None:
        ...

    @property
    @abstractmethod
    def busy(self) -> int:
        """Jobs submitted and not yet finished."""

    @abstractmethod
    def finished(self, timeout: float | None) -> Iterator[tuple[Task, Any]]:
        """(job, outcome) pairs of the jobs that finish within timeout (None: at least one)."""

    def run(self, jobs: list[Task]) -> Iterator[tuple[Task, Any]]:
        """(job, outcome) pairs as they finish, every job's."""
        for job in jobs:
            self.submit(job)
        while self.busy:
            yield from self.finished(None)

    @abstractmethod
    def warm(self, job: Callable[[int], Task]) -> int:
        """Each place that grades one job at a time grades job(i) now, so that its zygote
        imports TensorFlow before a student waits on it; returns how many places. Outcomes
        are not kept: a place whose warm-up failed starts a zygote with its first job."""

    @abstractmethod
    def close(self) -> None:
        ...


class Pool(Dispatch):
    """Worker processes that each grade one job at a time. Unlike ProcessPoolExecutor, which
    breaks every pending future when one of its processes dies, a dead worker (the OOM
    killer, kill -9) costs only the job it held: that job is retried (ATTEMPTS), then its
    last failure is the outcome; a new worker replaces the dead one."""

    def __init__(self, size: int) -> None:
        self.size = size
        # spawn: forking this process would copy its threads (rich's refresher) and database
        # connection into every worker.
        self.context = multiprocessing.get_context("spawn")
        self.idle: list[tuple[BaseProcess, Connection]] = []
        self.running: dict[Connection, tuple[BaseProcess, Task]] = {}
        self.pending: deque[Task] = deque()
        self.attempts: Counter[tuple[str, str]] = Counter()

    def _start(self) -> None:
        mine, theirs = self.context.Pipe()
        process = self.context.Process(target=_worker, args=(theirs, os.getpid()),
                                       name="kerasgrade-worker", daemon=True)
        process.start()
        theirs.close()
        self.idle.append((process, mine))

    def submit(self, job: Task) -> None:
        self.pending.append(job)

    def warm(self, job: Callable[[int], Task]) -> int:
        for _ in self.run([job(i) for i in range(self.size)]):
            pass
        return self.size

    @property
    def busy(self) -> int:
        return len(self.pending) + len(self.running)

    def finished(self, timeout: float | None) -> Iterator[tuple[Task, Outcome]]:
        """A failed job yields a retrying Outcome and goes back to the front of the line."""
        # Workers stay between calls (a service keeps its pool warm between submissions).
        for _ in range(min(self.size, self.busy) - len(self.idle) - len(self.running)):
            self._start()
        while self.pending and self.idle:
            process, conn = self.idle.pop()
            try:
                conn.send(self.pending[0])
            except OSError:  # it died while idle: a new one takes the job
                process.join()
                conn.close()
                self._start()
                continue
            job = self.pending.popleft()
            self.attempts[job.student, job.assignment] += 1
            self.running[conn] = (process, job)
        if not self.running:
            return
        ready = wait([*self.running, *(p.sentinel for p, _ in self.running.values())],
                     timeout)
        for conn, (process, job) in list(self.running.items()):
            outcome = self._receive(conn, process, ready)
            if outcome is None:  # still grading
                continue
            del self.running[conn]
            if outcome.payload is None and self.attempts[job.student, job.assignment] < ATTEMPTS:
                self.pending.appendleft(job)  # before the yield: a caller may stop reading
                yield job, Outcome(None, outcome.failure, retrying=True)
            else:
                del self.attempts[job.student, job.assignment]
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
        """Idle workers end by themselves (their zygotes clean up); running ones,
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


class DaskPool(Dispatch):
    """The same task on a Dask distributed cluster; workers must be able to import kerasgrade.
    One client for the grader's life, opened with the first job. When the scheduler goes away,
    Dask cancels the jobs it held: each is handed out again, once, when a scheduler answers at
    the address again (the client reconnects, or a new one is opened). Dask retries a failed
    job itself (ATTEMPTS); an outcome is a future, read with result()."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.client: Any = None
        self.share: dict[str, int] = {}
        self.futures: dict[Any, Task] = {}
        self.lost: deque[Task] = deque()  # taken away with the scheduler; handed out again

    def _connect(self) -> bool:
        """Whether a scheduler answers; a client given up by Dask (it retries for its timeout)
        is replaced. The first connection's failure is raised: the address may be wrong."""
        from distributed import Client

        if self.client is not None and self.client.status == "closed":
            self.client = None
        if self.client is None:
            try:
                self.client = Client(self.address, timeout=AWAY_CONNECT_SECONDS if self.lost
                                     else CONNECT_SECONDS)
            except (OSError, TimeoutError):
                if not self.lost:
                    raise
                return False
            self.share = {}
        if self.client.status != "running":
            return False
        if not self.share:  # each host's Dask threads divide its cores (grade_task)
            for info in self.client.scheduler_info(n_workers=-1)["workers"].values():
                self.share[info["host"]] = self.share.get(info["host"], 0) + info["nthreads"]
        return True

    def submit(self, job: Task) -> None:
        if self.lost or not self._connect():
            self.lost.append(job)  # after those taken away before it
            return
        future = self.client.submit(
            grade_task, dataclasses.replace(job, host_share=self.share), pure=False,
            retries=ATTEMPTS - 1,
            key=f"kerasgrade-{job.assignment}-{job.student}-{os.urandom(4).hex()}")
        self.futures[future] = job

    @property
    def busy(self) -> int:
        return len(self.futures) + len(self.lost)

    def warm(self, job: Callable[[int], Task]) -> int:
        """A job for each thread of each worker, held to that worker (a zygote is a
        thread's); raises OSError or TimeoutError when no scheduler answers at the address."""
        from distributed import wait as dask_wait

        self._connect()
        futures = [
            self.client.submit(grade_task, dataclasses.replace(job(i), host_share=self.share),
                               pure=False, workers=[address], allow_other_workers=False,
                               key=f"kerasgrade-warm-up-{i}-{os.urandom(4).hex()}")
            for i, address in enumerate(
                address for address, info in
                self.client.scheduler_info(n_workers=-1)["workers"].items()
                for _ in range(info["nthreads"]))]
        dask_wait(futures)
        return len(futures)

    @property
    def threads(self) -> int:
        """The cluster's worker threads when last reached (0: not reached yet, or away)."""
        return sum(self.share.values())

    def finished(self, timeout: float | None) -> Iterator[tuple[Task, Any]]:
        """A job the scheduler took away yields a retrying Outcome and waits for its return."""
        from distributed import wait as dask_wait

        if self.lost and self._connect():
            say(f"the Dask scheduler at {self.address} answers again: {len(self.lost)} "
                "job(s) handed out again")
            again, self.lost = self.lost, deque()
            for job in again:
                self.submit(job)
        if not self.futures:
            if self.lost:  # the scheduler is still away
                time.sleep(min(timeout if timeout is not None else AWAY_PAUSE, AWAY_PAUSE))
            return
        try:
            dask_wait(list(self.futures), timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            return
        except CancelledError:  # some were cancelled: found below
            pass
        done = [f for f in self.futures if f.done()]
        cancelled = [f for f in done if f.status == "cancelled"]
        if cancelled and not self.lost:
            self.share = {}  # the workers that come back may be others
            say(f"the Dask scheduler at {self.address} went away: {len(self.futures)} job(s) "
                "wait for it and are handed out again when it answers")
        for future in done:
            job = self.futures.pop(future)
            if future.status == "cancelled":  # we cancel nothing: the scheduler went away
                self.lost.append(job)
                yield job, Outcome(None, f"the Dask scheduler at {self.address} went away",
                                   retrying=True)
            else:
                yield job, future

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None


def default_workers() -> int:
    by_memory = psutil.virtual_memory().available // WORKER_MEMORY
    return max(1, min(cores(), by_memory))
