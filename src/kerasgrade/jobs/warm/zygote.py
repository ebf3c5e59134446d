"""The zygote: one sandboxed process per batch worker that holds the warm state and forks jobs.

`python -m kerasgrade.jobs.warm.zygote SCRATCH_ROOT` runs inside the worker's bubblewrap
sandbox (its uid, hidden paths and rlimits). It imports TensorFlow, Keras, ipykernel and the
grader's in-sandbox modules once (kerasgrade.preload), says READY, then serves one job per line
on stdin, each a JSON request {"entry", "argv", "job", "env", "limits"}: it forks a job leader,
which enters new namespaces (kerasgrade.sandbox.namespaces) and forks the job's PID 1, which runs
the entry point's main(argv) (kerasgrade.entry_points) in the job folder with the job's
environment. The zygote holds the job to
its limits with the sandbox's own watchdog and answers one JSON line: the SandboxRun.

The zygote runs no student code and is never reachable from a job: jobs are forks (a module
patched, a global set or a thread started there ends with them), they live in their own PID
namespace (the zygote has no pid there) and the zygote is not dumpable (no ptrace, no
/proc/PID/mem), and each job sees new /tmp and /dev/shm and only its own folder writable.
"""

from __future__ import annotations

import ctypes
import dataclasses
import importlib
import json
import os
import subprocess
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import IO, Any

from kerasgrade.entry_points import ENTRY_POINTS
from kerasgrade.jobs.warm import FAILED, READY
from kerasgrade.keras_terms import quiet_tensorflow
from kerasgrade.preload import PRELOAD
from kerasgrade.sandbox.limits import MIB, Limits
from kerasgrade.sandbox.namespaces import isolate
from kerasgrade.sandbox.watchdog import SandboxRun, watch

PR_SET_DUMPABLE = 4


class _Forked:
    """A forked job leader as the watchdog sees a Popen."""

    def __init__(self, pid: int, stdout: IO[bytes], stderr: IO[bytes]) -> None:
        self.pid, self.stdout, self.stderr = pid, stdout, stderr
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0.0)
            time.sleep(0.02)
        return code


def warm_up() -> None:
    quiet_tensorflow()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in PRELOAD:
            importlib.import_module(name)


def run_job(scratch_root: Path, request: dict[str, Any]) -> SandboxRun:
    limits = Limits(**request["limits"])
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(out_r)
            os.close(err_r)
            code = _lead(scratch_root, request, limits, out_w, err_w)
        except BaseException:  # noqa: BLE001  (a job must never return into the zygote's loop)
            traceback.print_exc()
        finally:
            sys.stderr.flush()
            os._exit(code)
    os.close(out_w)
    os.close(err_w)
    job = _Forked(pid, os.fdopen(out_r, "rb"), os.fdopen(err_r, "rb"))
    return watch(job, limits, sandboxed=True)


def _lead(scratch_root: Path, request: dict[str, Any], limits: Limits, out: int,
          err: int) -> int:
    """The job leader: enter the job's namespaces, start its PID 1, report how that ended
    (a signal N as 128 + N, as bubblewrap does)."""
    os.setsid()  # the watchdog kills the job's process group
    devnull = os.open(os.devnull, os.O_RDONLY)
    for fd, target in ((devnull, 0), (out, 1), (err, 2)):
        os.dup2(fd, target)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # the zygote's pipes stay out of reach
    ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 1)  # its /proc files must be its own to map uids
    job = Path(request["job"])
    isolate(scratch_root, job, limits.max_file_mb * MIB)
    child = os.fork()
    if child == 0:
        code = 1
        try:
            code = _job_main(job, request)
        except BaseException:  # noqa: BLE001
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(child, 0)
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _job_main(job: Path, request: dict[str, Any]) -> int:
    os.chdir(job)
    os.environ.clear()
    os.environ.update(request["env"])
    module = importlib.import_module(ENTRY_POINTS[request["entry"]])
    sys.argv = [str(module.__file__), *request["argv"]]
    return int(module.main(list(request["argv"])) or 0)


def main(argv: list[str] | None = None) -> int:
    scratch_root = Path((argv or sys.argv[1:])[0])
    # Its own folder is not a place to import from (as ipykernel's launcher does).
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]
    ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 0)
    try:
        warm_up()
    except Exception as exc:  # its stderr goes nowhere: the grader reads why from this line
        print(f"{FAILED} {type(exc).__name__}: {exc}".replace("\n", " ")[:1000], flush=True)
        return 1
    print(READY, flush=True)
    for line in sys.stdin:
        answer = run_job(scratch_root, json.loads(line))
        print(json.dumps(dataclasses.asdict(answer)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
