"""Supervise a sandboxed process tree: memory and wall-time limits, output tails, the verdict.

A watchdog samples the tree's RSS every 0.1 s and its total PSS every second or as soon as RSS
crosses the limit (proportional set size: shared pages are split between the processes sharing
them, so forked copies and shared libraries are not counted twice) and kills the whole tree above
memory_mb or after wall_seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

import psutil

from kerasgrade.sandbox.limits import MIB, Limits, prlimit_argv

_SAMPLE_SECONDS = 0.1


_READER_GRACE_SECONDS = 5.0  # how long to wait for output pipes to drain once the tree is dead


_FREEZE_ROUNDS = 50  # SIGSTOP passes before killing; a tree of stopped processes cannot grow


# Reading PSS walks /proc/PID/smaps (~13 ms of CPU for a TensorFlow process), RSS is nearly free
# and PSS <= RSS: PSS is read every _PSS_EVERY samples, and whenever RSS crosses the limit.
_PSS_EVERY = 10


HEAD_BYTES = 4096


@dataclass
class SandboxRun:
    returncode: int | None  # exit code; -N if signal N killed it; None if the watchdog stopped it
    status: str  # "ok" | "timeout" | "memory" | "killed" (by a signal) | "error"
    reason: str  # one human sentence, e.g. "used more than 4096 MB of memory"
    seconds: float
    peak_rss_mb: float  # peak total PSS of the process tree, sampled every second
    stdout: str  # tail, at most max_output_bytes
    stderr: str
    # The first bytes of stdout: what the program said before it ran anything else, which
    # nothing it starts later can push out (unlike the tail).
    stdout_head: str = ""

    def last_stderr_line(self) -> str:
        """The last line of a traceback says what went wrong; the rest is the grader's code."""
        return next((line for line in reversed(self.stderr.splitlines()) if line.strip()),
                    "")[:1000]


class _Tail(threading.Thread):
    """Drains a pipe, keeping only its first HEAD_BYTES and last `limit` bytes so huge outputs
    cost no memory."""

    def __init__(self, pipe: IO[bytes], limit: int) -> None:
        super().__init__(daemon=True)
        self._pipe = pipe
        self._limit = limit
        self._buffer = bytearray()
        self._head = bytearray()
        self._lock = threading.Lock()
        self.start()

    def run(self) -> None:
        with self._pipe:
            while chunk := os.read(self._pipe.fileno(), 65536):
                with self._lock:
                    self._head += chunk[: HEAD_BYTES - len(self._head)]
                    self._buffer += chunk
                    if len(self._buffer) > 2 * self._limit:  # trimming rarely keeps it O(n)
                        del self._buffer[: len(self._buffer) - self._limit]

    def text(self) -> str:
        with self._lock:
            cut = max(0, len(self._buffer) - self._limit)
            data = bytes(self._buffer[cut:])
        if cut:
            # The cut may split a UTF-8 character: drop its continuation bytes.
            start = 0
            while start < min(3, len(data)) and data[start] & 0xC0 == 0x80:
                start += 1
            data = data[start:]
        return data.decode(errors="replace")

    def head(self) -> str:
        with self._lock:
            return bytes(self._head).decode(errors="replace")


class Process(Protocol):
    """What the watchdog needs of a process: a Popen, or a forked child (the warm zygote's)."""

    pid: int
    stdout: IO[bytes] | None
    stderr: IO[bytes] | None

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...


def supervise(
    command: list[str], scratch: Path, env: dict[str, str], limits: Limits, sandboxed: bool
) -> SandboxRun:
    proc = subprocess.Popen(
        prlimit_argv(limits) + command,
        cwd=scratch,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # one process group to kill, detached from the grader's terminal
    )
    return watch(proc, limits, sandboxed)


def watch(proc: Process, limits: Limits, sandboxed: bool) -> SandboxRun:
    """Hold a started process tree to the limits until it ends; its pid leads its group."""
    start = time.monotonic()
    deadline = start + limits.wall_seconds
    assert proc.stdout is not None and proc.stderr is not None
    out = _Tail(proc.stdout, limits.max_output_bytes)
    err = _Tail(proc.stderr, limits.max_output_bytes)
    root = psutil.Process(proc.pid)
    seen: set[psutil.Process] = set()  # every process of the tree ever sampled
    peak = 0
    stopped_by = ""
    samples = 0
    while proc.poll() is None:
        tree = _tree(root)
        seen |= tree
        rss = sum(_rss(process) for process in tree)
        if rss > limits.memory_mb * MIB or samples % _PSS_EVERY == 0:
            total = sum(_pss(process) for process in tree)
            peak = max(peak, total)
        else:
            total = 0
        samples += 1
        if total > limits.memory_mb * MIB:
            stopped_by = "memory"
            break
        if time.monotonic() >= deadline:
            stopped_by = "timeout"
            break
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=min(_SAMPLE_SECONDS, max(0.0, deadline - time.monotonic())))
    # Also after a normal exit: daemonised leftovers must not outlive the run (without the
    # sandbox's PID namespace nothing else would reap them).
    _kill_tree(proc.pid, root, seen)
    code = proc.wait()
    seconds = time.monotonic() - start
    for reader in (out, err):
        reader.join(timeout=_READER_GRACE_SECONDS)
    if stopped_by == "timeout":
        returncode, status = None, "timeout"
        reason = f"stopped after {limits.wall_seconds:g} s (the notebook's time limit)"
    elif stopped_by == "memory":
        returncode, status = None, "memory"
        reason = f"used more than {limits.memory_mb} MB of memory"
    else:
        returncode, status, reason = _verdict(code, sandboxed)
    return SandboxRun(returncode, status, reason, seconds, peak / MIB, out.text(), err.text(),
                      out.head())


def _verdict(code: int, sandboxed: bool) -> tuple[int, str, str]:
    # bwrap reports a program killed by signal N as exit code 128 + N, like a shell.
    if sandboxed and 128 < code <= 128 + 64:
        code = 128 - code
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        return code, "killed", f"was killed by signal {name}"
    if code:
        return code, "error", f"exited with code {code}"
    return code, "ok", "finished normally"


def _tree(root: psutil.Process) -> set[psutil.Process]:
    try:
        return {root, *root.children(recursive=True)}
    except psutil.Error:  # root already gone
        return set()


def _rss(process: psutil.Process) -> int:
    with suppress(psutil.Error):
        return process.memory_info().rss
    return 0


def _pss(process: psutil.Process) -> int:
    try:
        return process.memory_full_info().pss
    except psutil.AccessDenied:  # e.g. a non-dumpable helper: RSS is always readable
        with suppress(psutil.Error):
            return process.memory_info().rss
    except psutil.Error:
        pass
    return 0


def _kill_tree(pgid: int, root: psutil.Process, seen: set[psutil.Process]) -> None:
    """Stop the tree until it stops growing (so a fork bomb cannot outrun us), then kill it.

    In the sandbox, killing the PID namespace's init (bwrap) alone would take everything with it;
    without the sandbox this also catches processes that left the process group.
    """
    stopped: set[psutil.Process] = set()
    for _ in range(_FREEZE_ROUNDS):
        fresh = (_tree(root) | seen) - stopped
        if not fresh:
            break
        for process in fresh:
            with suppress(psutil.Error):
                process.suspend()
        stopped |= fresh
    for process in stopped:
        with suppress(psutil.Error):
            process.kill()
    with suppress(OSError):
        os.killpg(pgid, signal.SIGKILL)
