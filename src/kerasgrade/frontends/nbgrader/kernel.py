"""A Jupyter kernel inside the bubblewrap sandbox, for `nbgrader autograde` (opt-in).

nbgrader runs each submission in a kernel it starts itself, in the student's folder
autograded/<student>/<assignment>/. With `kerasgrade kernel install` and
`KERASGRADE_NBGRADER_SANDBOX=1` (read by nbgrader_config.py, which calls `configure`), that
kernel is `python -m ipykernel_launcher` under `sandbox.run`: no network, the limits and the
watchdog of `kerasgrade grade`, an unprivileged uid, the whole course folder hidden (only the
package and the data folder show through, read-only).

Two things differ from an ordinary kernel:

* The transport. A kernel in its own network namespace cannot reach the grader's TCP loopback,
  so client and kernel talk over ZeroMQ's ipc transport (unix sockets). The client connects to
  `<ip>-<port>`; the kernel binds its sockets in its scratch folder, and this launcher links
  the client's paths to them.
* The folder. The kernel works in a private copy of the student's folder: nbgrader writes the
  graded notebook into the real one afterwards, as the grader, and a symlink planted there by
  the notebook would otherwise redirect that write.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from kerasgrade import environment, sandbox
from kerasgrade.course import assignments
from kerasgrade.course.layout import AUTOGRADED, private_paths
from kerasgrade.course.time_limits import time_limits
from kerasgrade.sandbox.policy import sandbox_env, shown_paths

KERNEL_NAME = "kerasgrade-sandboxed"
SWITCH = environment.NBGRADER_SANDBOX  # "1": nbgrader_config.py calls configure()
COURSE_ENV = environment.COURSE_ROOT  # set by configure(); the launcher hides this folder

IPC_DIR = ".kerasgrade-kernel"  # in the scratch folder: the sockets and connection file
PORTS = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")


class KernelSetupError(RuntimeError):
    """The kernel cannot start sandboxed as asked; it never starts unsandboxed instead."""


def kernel_spec() -> dict[str, Any]:
    return {
        "argv": [sys.executable, "-m", "kerasgrade.frontends.nbgrader.kernel",
                 "-f", "{connection_file}"],
        "display_name": "Python 3 (kerasgrade sandbox)",
        "language": "python",
        # SIGINT would stop at this launcher: the kernel runs in a session of its own.
        "interrupt_mode": "message",
        "metadata": {"debugger": False},
    }


def install(user: bool = False, prefix: str | None = None) -> str:
    """Install the kernelspec (default: this Python environment's share/jupyter)."""
    from jupyter_client.kernelspec import KernelSpecManager

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "kernel.json").write_text(json.dumps(kernel_spec(), indent=1))
        return KernelSpecManager().install_kernel_spec(
            tmp, KERNEL_NAME, user=user, prefix=None if user else prefix or sys.prefix)


def configure(c: Any, root: Path) -> None:
    """nbgrader settings that run every autograded notebook in the sandboxed kernel.

    Raises SandboxUnavailable or KernelSetupError where that cannot work, before any notebook
    runs.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    sandbox.check_available()
    try:
        KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    except NoSuchKernel:
        raise KernelSetupError(f"the {KERNEL_NAME} kernel is not installed: run `kerasgrade "
                               "kernel install` (or `--user`, `--prefix`) where nbgrader runs"
                               ) from None
    # The socket paths of this nbgrader run, and the kernels' scratch folders next to them.
    sockets = Path(tempfile.mkdtemp(prefix="kerasgrade-kernels-"))
    atexit.register(shutil.rmtree, sockets, ignore_errors=True)
    c.Execute.kernel_name = KERNEL_NAME
    c.KernelManager.transport = "ipc"
    c.KernelManager.ip = str(sockets / "kernel")
    os.environ[COURSE_ENV] = str(root)  # kernels inherit nbgrader's environment


def _notebook_folder(course: Path) -> Path:
    folder = Path.cwd().resolve()
    parts = folder.relative_to(course).parts if folder.is_relative_to(course) else ()
    if len(parts) < 3 or parts[0] != AUTOGRADED:
        # Anywhere else the copy below could take in more than one student's work.
        raise KernelSetupError(
            f"it runs notebooks in {course}/{AUTOGRADED}/<student>/<assignment>/ (nbgrader "
            f"autograde), not in {folder}")
    return folder


def _scratch(folder: Path, sockets: Path) -> Path:
    """A private copy of the student's folder, next to the client's sockets."""
    work = Path(tempfile.mkdtemp(prefix="kernel-", dir=sockets))
    scratch = work / "cwd"
    # Symlinks are copied as links: the sandbox decides what they may reach.
    shutil.copytree(folder, scratch, symlinks=True, ignore=shutil.ignore_patterns(IPC_DIR))
    return scratch


def kernel_limits(assignment_id: str) -> sandbox.Limits:
    """The sandbox limits of `kerasgrade grade` for this assignment (its folder's name under
    autograded/<student>/): the whole notebook gets the assignment's notebook limit."""
    if assignment_id not in assignments.ASSIGNMENTS:  # nbgrader grades it, we only run it
        return sandbox.Limits()
    return sandbox.Limits(wall_seconds=time_limits(assignment_id).notebook)


def launch(connection_file: Path, kernel_args: list[str]) -> sandbox.SandboxRun:
    """Run ipykernel in the sandbox, connected through the client's ipc paths, until it exits."""
    info = json.loads(connection_file.read_text())
    client_ip = Path(info.get("ip", ""))
    if info.get("transport") != "ipc" or not client_ip.is_absolute():
        raise KernelSetupError(
            "it needs ZeroMQ's ipc transport with an absolute path as ip (a sandboxed kernel "
            "cannot reach TCP loopback): set KernelManager.transport = 'ipc' and "
            f"KernelManager.ip, as kerasgrade.frontends.nbgrader.kernel.configure does; got "
            f"{info.get('transport')!r} {str(client_ip)!r}")
    if COURSE_ENV not in os.environ:
        raise KernelSetupError(f"{COURSE_ENV} is not set: it names the course folder to hide")
    course = Path(os.environ[COURSE_ENV]).resolve()
    sandbox.check_available()
    links = [Path(f"{client_ip}-{info[port]}") for port in PORTS]
    folder = _notebook_folder(course)
    scratch = _scratch(folder, client_ip.parent)
    try:
        ipc = scratch / IPC_DIR
        ipc.mkdir()
        kernel_file = ipc / "connection.json"
        kernel_file.write_text(json.dumps(info | {"ip": str(ipc / "zmq")}))
        for link, port in zip(links, PORTS, strict=True):
            link.unlink(missing_ok=True)  # a link left by a launcher that was killed
            link.symlink_to(ipc / f"zmq-{info[port]}")
        env = sandbox_env(scratch)
        # The interpreter too, in case its environment lives inside the hidden course folder.
        shown = (*shown_paths(env), Path(sys.prefix), Path(sys.base_prefix))
        # The whole course: private_paths would leave stand-ins that show what exists there.
        hide = [course, *(p for p in private_paths(course) if not p.is_relative_to(course))]
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", str(kernel_file), *kernel_args]
        with sandbox.claim_slot() as slot:  # a uid no concurrent grading shares
            return sandbox.run(argv, scratch=scratch, hide=hide, readonly_binds=shown, env=env,
                               slot=slot, limits=kernel_limits(folder.name))
    finally:
        for link in links:
            link.unlink(missing_ok=True)
        shutil.rmtree(scratch.parent, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kerasgrade.frontends.nbgrader.kernel",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("-f", dest="connection_file", type=Path, required=True)
    args, kernel_args = parser.parse_known_args(argv)  # the rest goes to ipykernel
    # The kernel manager ends a kernel that ignores shutdown with SIGTERM: clean up on the way
    # out; bwrap --die-with-parent then takes the whole sandbox with this process.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        ran = launch(args.connection_file, kernel_args)
    except (KernelSetupError, sandbox.SandboxUnavailable) as exc:
        print(f"The {KERNEL_NAME} kernel did not start: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(ran.stdout)
    sys.stderr.write(ran.stderr)
    if ran.status != "ok":
        print(f"The {KERNEL_NAME} kernel {ran.reason}.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
