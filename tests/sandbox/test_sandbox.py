"""The sandbox against real hostile programs: escapes, runaway time, memory, processes, output."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import tracemalloc
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path

import nbformat
import psutil
import pytest

from kerasgrade import sandbox
from kerasgrade.sandbox import Limits, SandboxRun

MIB = 1024 * 1024
TESTS_DIR = Path(__file__).resolve().parents[1]
REPO_DIR = TESTS_DIR.parent


requires_sandbox = pytest.mark.skipif(bool(sandbox.unavailable_reason()),
                                      reason=sandbox.unavailable_reason())
both_modes = pytest.mark.parametrize(
    "enabled",
    [
        pytest.param(True, marks=requires_sandbox, id="sandbox"),
        pytest.param(False, id="no-sandbox"),
    ],
)


DEFAULTS = Limits()
# Slots far above the grader's own, so runs of the real grader on this machine don't share uids.
SLOT = 900


def sandbox_uid(slot: int) -> int:
    return sandbox.SANDBOX_UID + slot if os.geteuid() == 0 else os.getuid()


def python(
    code: str,
    scratch: Path,
    *,
    limits: Limits = DEFAULTS,
    env: dict[str, str] | None = None,
    slot: int = SLOT,
    enabled: bool = True,
) -> SandboxRun:
    argv = [sys.executable, "-c", textwrap.dedent(code)]
    return sandbox.run(argv, scratch=scratch, limits=limits, env=env, slot=slot, enabled=enabled)


def alive(processes: Iterable[psutil.Process], grace: float = 10.0) -> list[psutil.Process]:
    """The processes still living once killed ones had `grace` seconds to exit: one that frees
    hundreds of MB takes a moment on a busy machine. A killed process stays a zombie until
    whoever inherited it reaps it; it is gone all the same."""
    processes = list(processes)
    deadline = time.monotonic() + grace
    while True:
        living = []
        for process in processes:
            with suppress(psutil.NoSuchProcess):
                if process.status() != psutil.STATUS_ZOMBIE:
                    living.append(process)
        if not living or time.monotonic() >= deadline:
            return living
        time.sleep(0.1)


def processes_of(uid: int) -> list[psutil.Process]:
    return alive(p for p in psutil.process_iter(["uids"]) if p.info["uids"][0] == uid)


def leftovers(result: SandboxRun, enabled: bool, slot: int = SLOT) -> list[psutil.Process]:
    """Processes of the run still alive: by uid in the sandbox, else by the pids it printed."""
    if enabled:
        return processes_of(sandbox_uid(slot))
    pids = [int(word) for word in result.stdout.split()]
    return alive(psutil.Process(pid) for pid in pids if psutil.pid_exists(pid))


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    # Under pytest's 0700 base directory, so exposing scratch to the sandbox uid is exercised too.
    return tmp_path / "scratch"


PROBE = """
import errno, json, os, socket, subprocess, sys

hidden_tests, repo, course, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

def attempt(action):
    try:
        return action()
    except OSError as error:
        return errno.errorcode[error.errno]

def write(path):
    with open(path, "w") as file:
        file.write("x")
    return "ok"

def read(path):
    with open(path) as file:
        return file.read()

def connect(host, port):
    socket.create_connection((host, port), timeout=5).close()
    return "ok"

def unmount_hidden():
    # The attack hidden mounts must resist: a fresh user+mount namespace trying to unmount them.
    script = f"umount {hidden_tests} && ls {hidden_tests}"
    done = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True)
    return [done.returncode, done.stdout]

status = dict(line.split(":\\t") for line in read("/proc/self/status").splitlines())
print(json.dumps({
    "write_scratch": attempt(lambda: write("note.txt")),
    "write_tmp": attempt(lambda: write("/tmp/note.txt")),
    "write_repo": attempt(lambda: write(os.path.join(repo, "escape.txt"))),
    "write_hidden": attempt(lambda: write(os.path.join(hidden_tests, "escape.txt"))),
    "list_hidden": os.listdir(hidden_tests),
    "read_hidden": attempt(lambda: read(os.path.join(hidden_tests, "test_hidden_checks.py"))),
    "read_repo_tests": attempt(lambda: read(os.path.join(repo, "tests", "conftest.py"))),
    "read_course": attempt(lambda: read(os.path.join(course, "README.txt"))),
    "read_gradebook": attempt(lambda: read(os.path.join(course, "gradebook.db"))),
    "read_submission": attempt(lambda: read(os.path.join(course, "submissions", "bob.ipynb"))),
    "internet": attempt(lambda: connect("1.1.1.1", 53)),
    "grader_loopback": attempt(lambda: connect("127.0.0.1", port)),
    "ids": [os.getuid(), os.geteuid(), os.getgid(), os.getegid(), os.getgroups()],
    "caps": [status[key].strip() for key in ("CapPrm", "CapEff", "CapBnd", "CapAmb")],
    "no_new_privs": status["NoNewPrivs"].strip(),
    "unmount_hidden": unmount_hidden(),
}))
"""


@requires_sandbox
def test_sandbox_confines_files_network_and_privileges(tmp_path: Path, scratch: Path) -> None:
    course = tmp_path / "course"  # shown read-only; its tests, gradebook, submissions hidden
    (course / "submissions").mkdir(parents=True)
    (course / "autograder").mkdir()
    (course / "autograder" / "test_hidden_checks.py").write_text("SECRET = 1")
    (course / "README.txt").write_text("welcome")
    (course / "gradebook.db").write_text("alice: 10/10")
    (course / "submissions" / "bob.ipynb").write_text("{}")
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.setblocking(False)
        port = str(server.getsockname()[1])
        result = sandbox.run(
            [sys.executable, "-c", PROBE, str(course / "autograder"), str(REPO_DIR), str(course),
             port],
            scratch=scratch,
            hide=[course / "autograder", course / "gradebook.db", course / "submissions",
                  tmp_path / "absent"],
            readonly_binds=[course],
            slot=SLOT + 3,
        )
        with pytest.raises(BlockingIOError):
            server.accept()  # nothing from the sandbox reached the grader's loopback
    assert (result.status, result.stderr) == ("ok", "")
    uid = sandbox_uid(SLOT + 3)
    found = json.loads(result.stdout)
    # Only the repository's src/ is shown, below a folder bwrap made for the way to it: on its
    # read-only root, or root's in the sandbox's private /tmp (the sandbox's own as non-root).
    # Either way nothing reaches the host's repository (below).
    assert found.pop("write_repo") in ("EROFS", "EACCES", "ok")
    assert found == {
        "write_scratch": "ok",
        "write_tmp": "ok",  # a private tmpfs
        "write_hidden": "EROFS",
        "list_hidden": [],
        "read_hidden": "ENOENT",
        "read_repo_tests": "ENOENT",  # not on the allowlist
        "read_course": "welcome",
        "read_gradebook": "EACCES",  # /dev/null on a nodev mount cannot be opened
        "read_submission": "ENOENT",
        "internet": "ENETUNREACH",
        "grader_loopback": "ECONNREFUSED",  # its own loopback, where nothing listens
        "ids": [uid, uid, uid, uid, []],
        "caps": ["0000000000000000"] * 4,
        "no_new_privs": "1",
        "unmount_hidden": [32, ""],  # umount(8) fails: the mount is locked
    }
    assert (scratch / "note.txt").stat().st_uid == uid
    assert not (REPO_DIR / "escape.txt").exists()
    assert not Path("/tmp/note.txt").exists()


@both_modes
def test_environment_is_minimal(
    scratch: Path, monkeypatch: pytest.MonkeyPatch, enabled: bool
) -> None:
    monkeypatch.setenv("GRADER_SECRET", "hunter2")
    result = python(
        "import json, os; print(json.dumps(dict(os.environ)), os.getcwd())",
        scratch,
        env={"TF_CPP_MIN_LOG_LEVEL": "3"},
        enabled=enabled,
    )
    environment, cwd = result.stdout.rsplit(" ", 1)
    child_env = json.loads(environment)
    child_env.pop("PWD", None)  # bwrap's --chdir sets it
    assert child_env == {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "HOME": str(scratch),
        "MALLOC_ARENA_MAX": "2",
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    assert cwd == f"{scratch}\n"


@pytest.mark.slow  # 2 s per mode, by design
@both_modes
def test_endless_loop_times_out(scratch: Path, enabled: bool) -> None:
    result = python("while True: pass", scratch, limits=Limits(wall_seconds=2), enabled=enabled)
    assert (result.status, result.returncode) == ("timeout", None)
    assert result.reason == "stopped after 2 s (the notebook's time limit)"
    assert 2 <= result.seconds < 3


@both_modes
def test_growing_allocation_hits_the_address_space_limit(scratch: Path, enabled: bool) -> None:
    # One process can never exceed RLIMIT_AS, so the child gets a MemoryError before the
    # watchdog sees too much.
    code = """
        chunks = []
        while True:
            chunks.append(b"x" * (32 << 20))
    """
    result = python(code, scratch, limits=Limits(memory_mb=512), enabled=enabled)
    assert (result.status, result.returncode) == ("error", 1)
    assert result.stderr.splitlines()[-1] == "MemoryError"
    assert result.peak_rss_mb < 512


@both_modes
def test_huge_allocation_fails_in_the_child(scratch: Path, enabled: bool) -> None:
    result = python("bytearray(10**11)", scratch, enabled=enabled)
    assert (result.status, result.returncode, result.reason) == ("error", 1, "exited with code 1")
    assert result.stderr.splitlines()[-1] == "MemoryError"


@both_modes
def test_memory_of_a_process_tree_is_stopped_by_the_watchdog(scratch: Path, enabled: bool) -> None:
    # Four processes of 200 MB each: every one under RLIMIT_AS, together far over 512 MB.
    code = """
        import os, time
        os.fork(); os.fork()
        print(os.getpid(), flush=True)
        data = b"x" * (200 << 20)
        time.sleep(60)
    """
    result = python(code, scratch, limits=Limits(memory_mb=512, wall_seconds=30), enabled=enabled)
    assert (result.status, result.returncode) == ("memory", None)
    assert result.reason == "used more than 512 MB of memory"
    assert 512 < result.peak_rss_mb < 1000
    assert result.seconds < 10
    assert len(result.stdout.split()) == 4
    assert leftovers(result, enabled) == []


@both_modes
def test_a_daemon_left_behind_is_killed(scratch: Path, enabled: bool) -> None:
    # It leaves the process group and outlives its parent; sampled once, it is killed at the end.
    code = """
        import subprocess, time
        daemon = subprocess.Popen(["sleep", "600"], start_new_session=True)
        print(daemon.pid, flush=True)
        time.sleep(0.5)
    """
    result = python(code, scratch, enabled=enabled)
    assert result.status == "ok"
    assert leftovers(result, enabled) == []


@pytest.mark.slow  # 3 s, by design
@requires_sandbox
def test_fork_bomb_is_contained(scratch: Path) -> None:
    code = """
        import os, time
        reported = False
        while True:
            try:
                if os.fork() == 0:
                    time.sleep(600)
            except OSError as error:
                if not reported:
                    print(type(error).__name__, flush=True)
                    reported = True
                time.sleep(0.01)
    """
    limits = Limits(max_processes=200, wall_seconds=3)
    result = python(code, scratch, limits=limits, slot=SLOT + 5)
    assert (result.status, result.stdout) == ("timeout", "BlockingIOError\n")
    assert result.seconds < 5
    assert processes_of(sandbox_uid(SLOT + 5)) == []
    assert subprocess.run(["true"]).returncode == 0  # the grader can still start processes


@requires_sandbox
def test_file_size_limit(scratch: Path) -> None:
    code = """
        import errno
        try:
            with open("model.keras", "wb") as file:
                for _ in range(300):
                    file.write(b"w" * (1 << 20))
        except OSError as error:
            print(errno.errorcode[error.errno])
    """
    result = python(code, scratch, limits=Limits(max_file_mb=200))
    assert (result.status, result.stdout) == ("ok", "EFBIG\n")
    assert (scratch / "model.keras").stat().st_size == 200 * MIB


@requires_sandbox
def test_output_is_cut_to_its_tail_without_buffering_it(scratch: Path) -> None:
    code = """
        import sys
        for block in range(50):  # 50 MB
            sys.stdout.write(f"{block:02d}" + "x" * 999_997 + "\\n")
        sys.stderr.write("done\\n")
    """
    tracemalloc.start()
    try:
        result = python(code, scratch, limits=Limits(max_output_bytes=1_000_000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.status == "ok"
    assert result.stdout == "49" + "x" * 999_997 + "\n"
    assert result.stderr == "done\n"
    assert peak < 8 * MIB


@both_modes
def test_exit_codes_and_signals(scratch: Path, enabled: bool) -> None:
    result = python("import os; os._exit(3)", scratch, enabled=enabled)
    assert (result.status, result.returncode, result.reason) == ("error", 3, "exited with code 3")
    suicide = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    killed = python(suicide, scratch, enabled=enabled)
    assert (killed.status, killed.returncode) == ("killed", -9)
    assert killed.reason == "was killed by signal SIGKILL"
    fine = python("print('hi')", scratch, enabled=enabled)
    assert (fine.status, fine.returncode, fine.reason, fine.stdout) == (
        "ok",
        0,
        "finished normally",
        "hi\n",
    )


@pytest.mark.slow  # a kernel
@requires_sandbox
def test_jupyter_kernel_and_client_run_inside(scratch: Path) -> None:
    # The executor's design: nbclient and its kernel both inside, talking over the sandbox's
    # own loopback.
    code = """
        import nbclient, nbformat
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1 + 1)")])
        nbclient.NotebookClient(notebook, timeout=60, kernel_name="python3").execute()
        nbformat.write(notebook, "executed.ipynb")
    """
    result = python(code, scratch, limits=Limits(wall_seconds=60), slot=SLOT + 1)
    assert result.status == "ok", result.stderr
    executed = nbformat.read(scratch / "executed.ipynb", as_version=4)
    assert executed.cells[0].outputs == [{"name": "stdout", "output_type": "stream", "text": "2\n"}]
    assert processes_of(sandbox_uid(SLOT + 1)) == []  # the kernel went down with the sandbox


@pytest.mark.slow  # imports TensorFlow
@requires_sandbox
def test_tensorflow_imports_under_the_address_space_limit(scratch: Path) -> None:
    code = """
        import tensorflow as tf
        print(float(tf.reduce_sum(tf.ones((2, 2)))))
    """
    result = python(code, scratch, limits=Limits(memory_mb=4096, wall_seconds=60))
    assert (result.status, result.stdout) == ("ok", "4.0\n"), result.stderr[-2000:]
