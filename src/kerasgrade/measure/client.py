"""How the grader gets a submission's artifacts measured (`kerasgrade.measure.process`).

One-off grading starts a fresh sandboxed inspection process per submission. A batch worker
instead keeps one resident inspector: a sandboxed process that imports TensorFlow once and
forks a fresh child per submission (about 5 s of CPU saved each time). The resident runs under
its own sandbox slot, never the slot of the kernels that run student code, and only ever sees
a copy of one submission's artifacts at a time. It executes no student code: saved models are
vetted as data and loaded in safe mode (kerasgrade.measure.modelfile).
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
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
from pathlib import Path
from typing import Any

from kerasgrade import sandbox
from kerasgrade.artifacts import FACTS_FILE, LOG_FILE

COMMAND = [sys.executable, "-m", "kerasgrade.measure.process"]


def measure(artifacts: Path, assignment_id: str, scratch: Path, env: dict[str, str],
            shown: Sequence[Path], options: Any) -> sandbox.SandboxRun:
    """Write artifacts/facts.json; `options` is the submission's ExecOptions (its time limit,
    the assignment's notebook limit unless given, bounds the measurement too)."""
    from kerasgrade.execute.options import (
        with_limits,  # not at the top: execute imports this module
    )

    options = with_limits(options, assignment_id)
    if options.resident_inspector:
        return _resident(options, scratch, env, shown).measure(artifacts, assignment_id)
    return sandbox.run([*COMMAND, str(artifacts), assignment_id], scratch=scratch,
                       hide=options.hide, env=env, readonly_binds=shown,
                       limits=options.limits, slot=options.slot, enabled=options.sandbox)


class Resident:
    """A resident inspector, started on first use and restarted after it dies or hangs."""

    def __init__(self, options: Any, scratch: Path, env: dict[str, str],
                 shown: Sequence[Path]) -> None:
        self.options = options
        self.shown = tuple(shown)
        self.key = _key(options, shown)
        self._slot = contextlib.ExitStack()
        self.slot = self._slot.enter_context(sandbox.claim_slot())  # held for the worker's life
        self.scratch = Path(tempfile.mkdtemp(prefix="kerasgrade-inspector-"))
        # The first submission's environment, with its own scratch for HOME and the caches.
        self.env = {k: v.replace(str(scratch), str(self.scratch), 1) for k, v in env.items()}
        self.proc: Any = None
        self.jobs = itertools.count(1)
        atexit.register(self.close)

    def _start(self) -> None:
        self.proc = sandbox.spawn([*COMMAND, "--serve"], scratch=self.scratch,
                                  hide=self.options.hide, readonly_binds=self.shown,
                                  env=self.env, limits=self.options.limits, slot=self.slot,
                                  enabled=self.options.sandbox)

    def measure(self, artifacts: Path, assignment_id: str) -> sandbox.SandboxRun:
        started = time.monotonic()
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        job = self.scratch / f"job-{next(self.jobs)}"
        try:
            try:
                # Links stay links: resolved inside the sandbox, never by the grader.
                shutil.copytree(artifacts, job, symlinks=True)
            except (shutil.Error, OSError) as exc:
                # The student's code made these files (a FIFO, an unreadable file): theirs.
                return _outcome(None, "refused", f"its files could not be copied ({exc})",
                                started)
            if self.options.sandbox and os.geteuid() == 0:
                sandbox.hand_over(job, sandbox.SANDBOX_UID + self.slot,
                                  sandbox.SANDBOX_UID + self.slot)
            answer = self._ask(f"{job}\t{assignment_id}\n")
            if answer is None:
                self._stop()
                return _outcome(None, "timeout", "the inspection did not finish in "
                                f"{self.options.limits.wall_seconds:g} s", started)
            facts = job / FACTS_FILE
            if facts.is_file() and not facts.is_symlink():
                shutil.copyfile(facts, artifacts / FACTS_FILE)
            code, peak_kib = answer
            log = _tail(job / LOG_FILE)
            status, reason = ("ok", "finished normally") if code == 0 else (
                "error", f"exited with code {code}")
            return _outcome(code, status, reason, started, peak_kib / 1024, log)
        finally:
            shutil.rmtree(job, ignore_errors=True)

    def _ask(self, request: str) -> tuple[int, int] | None:
        """The resident's answer, or None if it died or took longer than the time limit."""
        try:
            self.proc.stdin.write(request.encode())
            self.proc.stdin.flush()
        except OSError:
            return None
        ready, _, _ = select.select([self.proc.stdout], [], [],
                                    self.options.limits.wall_seconds)
        line = self.proc.stdout.readline() if ready else b""
        try:
            code, peak = line.split()
            return int(code), int(peak)
        except ValueError:
            return None

    def _stop(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(OSError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # the sandbox and all it started
            self.proc.wait()
            self.proc = None

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()  # end of requests: the resident exits by itself
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
        self._stop()
        shutil.rmtree(self.scratch, ignore_errors=True)
        self._slot.close()


_LOCAL = threading.local()  # a Dask worker runs tasks in threads: one resident per thread


def _resident(options: Any, scratch: Path, env: dict[str, str],
              shown: Sequence[Path]) -> Resident:
    """This thread's resident, replaced when a job comes with another sandbox (a Dask worker
    can serve several courses)."""
    current: Resident | None = getattr(_LOCAL, "resident", None)
    if current is not None and current.key != _key(options, shown):
        current.close()
        current = None
    if current is None:
        current = _LOCAL.resident = Resident(options, scratch, env, shown)
    return current


def _key(options: Any, shown: Sequence[Path]) -> tuple[Any, ...]:
    return options.hide, options.sandbox, options.limits, tuple(shown)


def _outcome(code: int | None, status: str, reason: str, started: float,
             peak_mb: float = 0.0, stderr: str = "") -> sandbox.SandboxRun:
    return sandbox.SandboxRun(code, status, reason, time.monotonic() - started, peak_mb, "",
                              stderr)


def _tail(path: Path, limit: int = 4096) -> str:
    with contextlib.suppress(OSError):
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - limit))
            return f.read().decode(errors="replace")
    return ""
