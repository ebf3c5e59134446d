"""A real IPython kernel forked from the warm runner instead of started as a new interpreter.

In the warm path (kerasgrade.jobs.warm) the runner is itself a fork of a process that has
already imported TensorFlow, Keras and ipykernel. `start` forks once more, before the runner
opens any ZeroMQ socket or event loop, and the child becomes the kernel: the student's
`import tensorflow` then costs nothing. nbclient drives it over the usual connection file;
`ForkedKernelManager` answers its questions about the process (alive, interrupt, shutdown).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager


class ForkedKernelManager(AsyncKernelManager):
    """The manager of a kernel that `start` forked: a pid instead of a provisioner."""

    kernel_pid: int | None = None
    exit_status: int | None = None

    @property
    def has_kernel(self) -> bool:
        return self.kernel_pid is not None

    async def _alive(self) -> bool:
        if self.kernel_pid is None or self.exit_status is not None:
            return False
        pid, status = os.waitpid(self.kernel_pid, os.WNOHANG)
        if pid:
            self.exit_status = status
        return not pid

    async def _interrupt(self) -> None:
        if await self._alive():
            os.kill(self.kernel_pid, signal.SIGINT)  # type: ignore[arg-type]

    async def _shutdown(self, now: bool = False, restart: bool = False) -> None:
        if await self._alive():
            os.kill(self.kernel_pid, signal.SIGKILL)  # type: ignore[arg-type]
            _, self.exit_status = os.waitpid(self.kernel_pid, 0)  # type: ignore[arg-type]

    async def _cleanup(self, restart: bool = False) -> None:
        self.cleanup_connection_file()

    # The client asks its parent manager through _async_is_alive; nbclient calls the rest.
    _async_is_alive = is_alive = _alive  # type: ignore[assignment]
    interrupt_kernel = _interrupt  # type: ignore[assignment]
    shutdown_kernel = _shutdown  # type: ignore[assignment]
    cleanup_resources = _cleanup  # type: ignore[assignment]


def start(connection_file: Path, cwd: Path) -> ForkedKernelManager:
    """Fork the kernel; the returned manager holds its pid and connection."""
    km = ForkedKernelManager(connection_file=str(connection_file), ip="127.0.0.1",
                             transport="tcp")
    km.write_connection_file()  # free ports and a key, read by both sides
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = _kernel_main(connection_file, cwd)
        finally:
            os._exit(code)
    km.kernel_pid = pid
    return km


def _kernel_main(connection_file: Path, cwd: Path) -> int:
    """What `python -m ipykernel_launcher -f FILE` does, in the forked child."""
    os.chdir(cwd)
    from ipykernel.kernelapp import IPKernelApp

    sys.argv = [sys.argv[0]]
    app = IPKernelApp.instance()
    app.initialize(["-f", str(connection_file)])
    app.start()
    return 0
