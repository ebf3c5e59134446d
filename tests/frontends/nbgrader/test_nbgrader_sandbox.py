"""`nbgrader autograde` in the sandboxed kernel (KERASGRADE_NBGRADER_SANDBOX=1).

Real nbgrader, real kernels, real bubblewrap. One autograde run grades the solution of 01 and
a hostile copy of it (the module fixture); the other tests start kernels without TensorFlow.
Courses live in /var/tmp, readable by everyone: the sandbox's own /tmp would hide a course in
/tmp anyway, so only the launcher's `hide` protects these.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import psutil
import pytest
from jupyter_client import KernelManager
from nbgrader_course import autograde, expected_points, make_course, nbgrader

from kerasgrade import sandbox
from kerasgrade.course import assignments
from kerasgrade.course.demo import answered
from kerasgrade.frontends.nbgrader.kernel import COURSE_ENV, KERNEL_NAME, SWITCH, kernel_limits

ROOT = Path(__file__).resolve().parents[3]
AID = assignments.PREPARING_DATA
NB = f"{AID}.ipynb"
PROBE_MARK = "# hostile probes"
# A stand-in for a bwrap that cannot create namespaces (a locked-down container, say).
BROKEN_BWRAP = """#!/bin/sh
echo "bwrap: Creating new namespace failed: Operation not permitted" >&2
exit 1
"""


requires_sandbox = pytest.mark.skipif(bool(sandbox.unavailable_reason()),
                                      reason=sandbox.unavailable_reason())


def open_folder(name: str, mode: int = 0o755) -> Path:
    """A new folder in /var/tmp (outside the sandbox's private /tmp) with the given mode."""
    folder = Path(tempfile.mkdtemp(prefix=f"kerasgrade-{name}-", dir="/var/tmp"))
    folder.chmod(mode)
    return folder


def processes_with(text: str) -> list[psutil.Process]:
    """Living processes whose command line mentions text (killed ones may linger as zombies)."""
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        if process.info["status"] != psutil.STATUS_ZOMBIE and \
                text in " ".join(process.info["cmdline"] or ()):
            found.append(process)
    return found


@pytest.fixture(scope="module")
def sandbox_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """nbgrader's environment with the option on and the kernel installed by the CLI."""
    prefix = tmp_path_factory.mktemp("jupyter")
    subprocess.run([sys.executable, "-m", "kerasgrade", "kernel", "install", "--prefix",
                    str(prefix)], check=True, capture_output=True)
    return dict(os.environ, **{SWITCH: "1", "JUPYTER_PATH": str(prefix / "share" / "jupyter")})


# ----------------------------------------------------------------------------------------
# One autograde run: the solution and a hostile submission


@dataclass
class Graded:
    course: Path
    open_dir: Path  # a folder anyone may write to, outside the course
    scores: dict[str, dict[str, float]]
    outcomes: dict[str, str]  # what the hostile notebook's attempts did, as it printed them
    marker: str  # in the command line of the daemon the hostile notebook started


def hostile(course: Path, open_dir: Path, port: int, marker: str) -> nbformat.NotebookNode:
    """The released 01 with its solutions, and one cell of the student's own that tries
    everything, prints what happened and leaves a daemon behind."""
    other = f"{course}/submitted/solution/{AID}/{NB}"
    code = f'''{PROBE_MARK}
import json, os, socket, subprocess, sys
import kerasgrade
outcomes = {{}}
def attempt(name, action):
    try:
        outcomes[name] = f"ok: {{action()!r}}"
    except Exception as exc:
        outcomes[name] = f"{{type(exc).__name__}}: {{exc}}"
attempt("uid", os.getuid)
attempt("cwd", os.getcwd)
attempt("internet", lambda: socket.create_connection(("1.1.1.1", 53), timeout=3))
attempt("grader's loopback", lambda: socket.create_connection(("127.0.0.1", {port}), timeout=3))
attempt("list the course", lambda: os.listdir("{course}"))
attempt("read the master", lambda: open("{course}/source/{AID}/{NB}").read())
attempt("read the gradebook", lambda: open("{course}/gradebook.db", "rb").read())
attempt("read another student", lambda: open("{other}").read())
attempt("overwrite another student", lambda: open("{other}", "w").write("x"))
attempt("write into the course", lambda: open("{course}/pwned", "w").write("x"))
attempt("write elsewhere", lambda: open("{open_dir}/pwned", "w").write("x"))
attempt("write its own folder", lambda: open("mine.txt", "w").write("mine"))
attempt("read the package", lambda: len(open(kerasgrade.__file__).read()) > 0)
# nbgrader writes the graded notebook where this one lies: point that path elsewhere.
attempt("plant a link", lambda: (os.remove("{NB}"), os.symlink("{open_dir}/victim", "{NB}")))
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", "{marker}"],
                 start_new_session=True)
print(json.dumps(outcomes))'''
    nb = answered(ROOT, AID)
    nb.cells.insert(2, nbformat.v4.new_code_cell(code))
    return nb


def printed_outcomes(course: Path) -> dict[str, str]:
    graded = nbformat.read(course / "autograded" / "mallory" / AID / NB, as_version=4)
    cell = next(c for c in graded.cells if c.source.startswith(PROBE_MARK))
    assert [o.output_type for o in cell.outputs] == ["stream"], cell.outputs
    return json.loads(cell.outputs[0].text)


@pytest.fixture(scope="module")
def graded(sandbox_env: dict[str, str]) -> Iterator[Graded]:
    if problem := sandbox.unavailable_reason():
        pytest.skip(problem)
    base, open_dir = open_folder("nbsandbox"), open_folder("open", 0o777)
    (open_dir / "victim").write_text("victim")
    (open_dir / "victim").chmod(0o666)
    server = socket.create_server(("127.0.0.1", 0))
    server.setblocking(False)
    marker = f"kerasgrade-daemon-{uuid.uuid4().hex}"
    course = base / "course"
    try:
        scores = autograde(base, AID, {
            "solution": answered(ROOT, AID),
            "mallory": hostile(course, open_dir, server.getsockname()[1], marker),
        }, env=sandbox_env)
        with pytest.raises(BlockingIOError):  # a connection that got through would wait here
            server.accept()
        yield Graded(course, open_dir, scores, printed_outcomes(course), marker)
    finally:
        server.close()
        for process in processes_with(marker):  # only if the test below fails
            process.kill()
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(open_dir, ignore_errors=True)


@pytest.mark.slow
def test_solution_gets_full_marks_in_the_sandbox(graded: Graded) -> None:
    assert graded.scores["solution"] == expected_points(AID)


@pytest.mark.slow
def test_hostile_notebook_is_contained_and_still_graded(graded: Graded) -> None:
    course, open_dir, out = graded.course, graded.open_dir, dict(graded.outcomes)
    other = f"{course}/submitted/solution/{AID}/{NB}"
    uid, cwd = int(out.pop("uid").removeprefix("ok: ")), out.pop("cwd").removeprefix("ok: ")
    if os.geteuid() == 0:  # a slot's uid, as the batch workers claim them
        assert sandbox.SANDBOX_UID < uid <= sandbox.SANDBOX_UID + 64
    else:
        assert uid == os.getuid()
    assert out == {
        "internet": "OSError: [Errno 101] Network is unreachable",
        "grader's loopback": "ConnectionRefusedError: [Errno 111] Connection refused",
        # Not on the sandbox's allowlist: neither the course nor the open folder is there.
        "list the course": f"FileNotFoundError: [Errno 2] No such file or directory: '{course}'",
        "read the master": f"FileNotFoundError: [Errno 2] No such file or directory: "
                           f"'{course}/source/{AID}/{NB}'",
        "read the gradebook": f"FileNotFoundError: [Errno 2] No such file or directory: "
                              f"'{course}/gradebook.db'",
        "read another student": f"FileNotFoundError: [Errno 2] No such file or directory: "
                                f"'{other}'",
        "overwrite another student": f"FileNotFoundError: [Errno 2] No such file or directory: "
                                     f"'{other}'",
        "write into the course": f"FileNotFoundError: [Errno 2] No such file or directory: "
                                 f"'{course}/pwned'",
        "write elsewhere": f"FileNotFoundError: [Errno 2] No such file or directory: "
                           f"'{open_dir}/pwned'",
        "write its own folder": "ok: 4",
        "read the package": "ok: True",
        "plant a link": "ok: (None, None)",
    }
    # Outside, nothing changed: the link went into the kernel's copy of the folder.
    assert (open_dir / "victim").read_text() == "victim"
    assert sorted(p.name for p in open_dir.iterdir()) == ["victim"]
    assert not (course / "pwned").exists()
    assert nbformat.read(course / "submitted" / "solution" / AID / NB, 4) == answered(ROOT, AID)
    folder = course / "autograded" / "mallory" / AID
    assert sorted(p.name for p in folder.iterdir()) == [NB]  # mine.txt stayed in the copy
    assert not (folder / NB).is_symlink()
    # The graded copy, the daemon and the kernel are gone; the grade is recorded in full.
    assert not Path(cwd).exists()
    assert processes_with(graded.marker) == []
    assert graded.scores["mallory"] == expected_points(AID)


# ----------------------------------------------------------------------------------------
# Failing closed


def broken_bwrap_path(tmp: Path) -> str:
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    (bin_dir / "bwrap").write_text(BROKEN_BWRAP)
    (bin_dir / "bwrap").chmod(0o755)
    return f"{bin_dir}{os.pathsep}{os.environ['PATH']}"


@pytest.mark.slow  # nbgrader generate_assignment, autograde
def test_autograde_fails_closed_without_a_working_sandbox(
        tmp_path: Path, sandbox_env: dict[str, str]) -> None:
    course = make_course(tmp_path, AID, {"solution": answered(ROOT, AID)})
    nbgrader(course, "generate_assignment", AID, "--force")
    proc = nbgrader(course, "autograde", AID, "--force", "--create",
                    env=sandbox_env | {"PATH": broken_bwrap_path(tmp_path)}, check=False)
    assert proc.returncode != 0
    assert ("KERASGRADE_NBGRADER_SANDBOX=1, but nbgrader cannot run notebooks sandboxed: The "
            "bubblewrap sandbox does not work on this machine: a trial run failed (exited with "
            "code 1): bwrap: Creating new namespace failed: Operation not permitted") \
        in proc.stderr, proc.stderr[-4000:]
    assert not (course / "autograded").exists()  # not one notebook ran


def launcher(folder: Path, connection: dict[str, object], env: dict[str, str]
             ) -> subprocess.CompletedProcess[str]:
    """The kernel's launcher in folder, as a kernel manager would start it."""
    folder.mkdir(parents=True, exist_ok=True)
    connection_file = folder.parent / "connection.json"
    connection_file.write_text(json.dumps(connection))
    return subprocess.run([sys.executable, "-m", "kerasgrade.frontends.nbgrader.kernel", "-f",
                           str(connection_file)], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("case", ["broken bwrap", "tcp transport", "no course", "not a student"])
def test_launcher_fails_closed(tmp_path: Path, case: str) -> None:
    """The kernel itself refuses to start unsandboxed, whoever starts it: nothing runs."""
    course = tmp_path / "course"
    connection = {"transport": "ipc", "ip": str(tmp_path / "kernel"), "key": "k",
                  "signature_scheme": "hmac-sha256", "shell_port": 1, "iopub_port": 2,
                  "stdin_port": 3, "control_port": 4, "hb_port": 5}
    env = dict(os.environ, **{COURSE_ENV: str(course)})
    folder = course / "autograded" / "alice" / AID
    expected = {
        "broken bwrap": "The bubblewrap sandbox does not work on this machine: a trial run failed",
        "tcp transport": "it needs ZeroMQ's ipc transport with an absolute path as ip",
        "no course": f"{COURSE_ENV} is not set",
        "not a student": f"it runs notebooks in {course}/autograded/<student>/<assignment>/",
    }[case]
    if case == "broken bwrap":
        env["PATH"] = broken_bwrap_path(tmp_path)
    elif case == "tcp transport":
        connection |= {"transport": "tcp", "ip": "127.0.0.1"}
    elif case == "no course":
        del env[COURSE_ENV]
    else:  # the whole class's folder: a copy of it would hold everyone's work
        folder = course / "autograded"
    proc = launcher(folder, connection, env)
    assert proc.returncode == 1, proc.stderr
    assert f"The {KERNEL_NAME} kernel did not start: {expected}" in proc.stderr, proc.stderr
    assert list(tmp_path.glob("kernel*")) == []  # no socket was linked, no copy was made


# ----------------------------------------------------------------------------------------
# Interrupt and shutdown, as nbclient uses them


@pytest.mark.slow  # a kernel
@requires_sandbox
def test_interrupt_then_a_kernel_that_ignores_it_is_shut_down_without_orphans(
        sandbox_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    course, sockets = open_folder("kernel-course"), Path(tempfile.mkdtemp(prefix="kk-"))
    folder = course / "autograded" / "alice" / AID
    folder.mkdir(parents=True)
    marker = f"kerasgrade-daemon-{uuid.uuid4().hex}"
    monkeypatch.setenv("JUPYTER_PATH", sandbox_env["JUPYTER_PATH"])
    monkeypatch.setenv(COURSE_ENV, str(course))
    km = KernelManager(kernel_name=KERNEL_NAME, transport="ipc", ip=str(sockets / "kernel"))
    try:
        launched = time.monotonic()
        km.start_kernel(cwd=str(folder))
        launcher_pid = km.provisioner.process.pid
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=60)
        # stop_on_error=False: an interrupted cell otherwise makes ipykernel abort the requests
        # that reach it before its abort ends, and the next cell could be one of them.
        sleeping = kc.execute("import time; time.sleep(600)", stop_on_error=False)
        # Interrupt the cell once it runs: on a loaded machine a fixed second could end before
        # it started, and an interrupt of a kernel not yet running it is another test.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                message = kc.get_iopub_msg(timeout=1)
                if message["parent_header"].get("msg_id") == sleeping and \
                        message["msg_type"] == "execute_input":
                    break
        time.sleep(1)
        started = time.monotonic()
        km.interrupt_kernel()  # what nbclient does when a cell times out
        reply = kc.get_shell_msg(timeout=30)
        while reply["parent_header"].get("msg_id") != sleeping:  # kernel_info replies first
            reply = kc.get_shell_msg(timeout=30)
        assert reply["content"]["ename"] == "KeyboardInterrupt"
        assert time.monotonic() - started < 10
        # A cell that ignores interrupts, with a daemon of its own: shutdown must end both.
        ignoring = kc.execute("import signal, subprocess, sys, time\n"
                              "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                              "subprocess.Popen([sys.executable, '-c', "
                              f"'import time; time.sleep(600)', '{marker}'], "
                              "start_new_session=True)\n"
                              "time.sleep(600)")
        # Under a loaded CI machine the cell may take a while; what it printed says why if not.
        said, deadline = [], time.monotonic() + 90
        while not processes_with(marker) and time.monotonic() < deadline:
            try:
                message = kc.get_iopub_msg(timeout=0.5)
            except queue.Empty:
                continue
            if message["parent_header"].get("msg_id") == ignoring and \
                    message["msg_type"] in ("error", "stream"):
                said.append(message["content"])
        assert processes_with(marker), (
            f"the daemon should have started; the cell said {said}; kernel alive: "
            f"{km.is_alive()}, {time.monotonic() - launched:.0f} s after its launch "
            f"(its sandbox's wall limit: {kernel_limits(AID).wall_seconds:.0f} s)")
        km.interrupt_kernel()
        kc.stop_channels()
        started = time.monotonic()
        km.shutdown_kernel(now=False)
        assert time.monotonic() - started < 30
        time.sleep(0.5)  # the killed processes' parents reap them
        assert not psutil.pid_exists(launcher_pid)
        assert processes_with(marker) == []
        assert processes_with(str(sockets)) == []  # the kernel's command line names its copy
        assert list(sockets.iterdir()) == []  # links and copy removed
    finally:
        if km.has_kernel:
            km.shutdown_kernel(now=True)
        for process in processes_with(marker):
            process.kill()
        shutil.rmtree(course, ignore_errors=True)
        shutil.rmtree(sockets, ignore_errors=True)
