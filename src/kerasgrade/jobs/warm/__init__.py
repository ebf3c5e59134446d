"""Warm kernels for batch workers: one zygote per worker, a fork of it per job.

Cold grading (`kerasgrade check`, pytest) starts two sandboxed interpreters per submission,
each importing TensorFlow. A batch worker instead keeps a zygote
(zygote.py): a process in the worker's sandbox that imported everything once and forks each
job, the student's runner and kernel, then the clean measuring process, into fresh namespaces.
One TensorFlow per worker; a job pays only for its own work.

`Zygote` is the grader's side: it starts the zygote on first use, gives each job its folder,
sends the job and waits for the answer, and replaces a zygote that died or stopped answering
(the job in flight is then a grader fault, retried by the batch).
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from kerasgrade import data as datasets
from kerasgrade import sandbox
from kerasgrade.results import GraderFault

COMMAND = [sys.executable, "-m", "kerasgrade.jobs.warm.zygote"]
# The zygote's first line: it imported everything, or why not.
READY = "kerasgrade-zygote: ready"
FAILED = "kerasgrade-zygote: failed:"
STARTUP_SECONDS = 180.0  # importing TensorFlow on a busy machine
ANSWER_GRACE = 60.0  # beyond a job's wall limit: the zygote's watchdog answers well before


class Zygote:
    """A worker's zygote, started on first use and replaced after it dies or hangs."""

    def __init__(self, options: Any, shared_data: str | None) -> None:
        self.options = options
        self.shared_data = shared_data
        self.shown = sandbox.shown_paths(self.job_env(Path("/")))
        self.key = _key(options, shared_data)
        self._slot = contextlib.ExitStack()
        self.slot = self._slot.enter_context(sandbox.claim_slot())  # held for the worker's life
        self.root = Path(tempfile.mkdtemp(prefix="kerasgrade-warm-"))
        self.jobs = self.root / "jobs"
        self.jobs.mkdir()
        self.proc: Any = None
        self.start_seconds = 0.0  # spent starting zygotes, in all: a job's share is its own
        self.count = itertools.count(1)
        atexit.register(self.close)

    @property
    def uid(self) -> int:
        return sandbox.SANDBOX_UID + self.slot

    def job_dir(self, name: str) -> Path:
        """A new folder for one job: the only one a job may write to."""
        job = self.jobs / f"{next(self.count)}-{name}"
        job.mkdir()
        return job

    def job_env(self, folder: Path, threads: int | None = None) -> dict[str, str]:
        """The whole environment of a job in folder: the sandbox's, with the shared data.
        threads: the job's own (a lone submission may have more than the worker's share);
        None: the zygote's."""
        return sandbox.sandbox_env(folder, threads or self.options.threads,
                                   self.options.data_dir, shared_data=self.shared_data)

    def _start(self) -> None:
        started = time.monotonic()
        try:
            self._spawn()
        finally:
            self.start_seconds += time.monotonic() - started

    def _spawn(self) -> None:
        env = self.job_env(self.root / "home")
        self.proc = sandbox.spawn([*COMMAND, str(self.root)], scratch=self.root,
                                  hide=self.options.hide, readonly_binds=self.shown, env=env,
                                  limits=self.options.limits, slot=self.slot,
                                  enabled=self.options.sandbox)
        line = self._line(STARTUP_SECONDS)
        if line != READY:
            code = self.proc.poll()
            self._stop()
            why = (line.removeprefix(FAILED).strip() or (
                f"exit code {code}" if code is not None else f"silent for {STARTUP_SECONDS:g} s"))
            raise GraderFault(f"the warm kernel process could not import TensorFlow and the "
                              f"course's modules in its sandbox: {why}", "kernel")

    def run(self, entry: str, argv: Sequence[str], job: Path, env: dict[str, str],
            limits: sandbox.Limits) -> sandbox.SandboxRun:
        """Run a grader entry point (kerasgrade.entry_points.ENTRY_POINTS) as a job in folder
        `job`."""
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        if self.options.sandbox and os.geteuid() == 0:
            sandbox.hand_over(job, self.uid, self.uid)
        request = {"entry": entry, "argv": list(argv), "job": str(job), "env": env,
                   "limits": asdict(limits)}
        try:
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
        except OSError:
            pass  # it died: no answer below
        answer = self._line(limits.wall_seconds + ANSWER_GRACE)
        try:
            return sandbox.SandboxRun(**json.loads(answer))
        except (ValueError, TypeError):
            code = self.proc.poll()
            self._stop()
            raise GraderFault("the warm kernel process stopped answering "
                              f"({'exit code ' + str(code) if code is not None else 'hung'}) "
                              "while it ran this submission", "sandbox") from None

    def _line(self, timeout: float) -> str:
        """The zygote's next line, or "" if it died or said nothing for timeout seconds."""
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        return self.proc.stdout.readline().decode().rstrip("\n") if ready else ""

    def _stop(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(OSError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # the sandbox and every job in it
            self.proc.wait()
            self.proc = None

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()  # end of requests: the zygote exits by itself
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
        self._stop()
        shutil.rmtree(self.root, ignore_errors=True)
        self._slot.close()


_LOCAL = threading.local()  # a Dask worker runs tasks in threads: one zygote per thread


def zygote_for(options: Any) -> Zygote:
    """This thread's zygote, replaced when a job comes with another sandbox (a Dask worker
    can serve several courses) or other data."""
    # The course's data sets, decoded once per machine (a cache hit costs milliseconds).
    shared_data = datasets.share(datasets.DATASETS, options.data_dir)
    current: Zygote | None = getattr(_LOCAL, "zygote", None)
    if current is not None and current.key != _key(options, shared_data):
        current.close()
        current = None
    if current is None:
        current = _LOCAL.zygote = Zygote(options, shared_data)
    return current


def close_current() -> None:
    """Stop this thread's zygote, if it has one (the batch's self-test, in the parent)."""
    current: Zygote | None = getattr(_LOCAL, "zygote", None)
    if current is not None:
        current.close()
        _LOCAL.zygote = None


def _key(options: Any, shared_data: str | None) -> tuple[Any, ...]:
    # Each job brings its own wall limit and thread count (its kernel sizes TensorFlow's pools
    # in its first cell); the rest is the zygote's sandbox.
    return (options.hide, options.sandbox, replace(options.limits, wall_seconds=0),
            options.data_dir, shared_data)
