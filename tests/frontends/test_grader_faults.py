"""The grader's own failures are never a student's score (issue 12, findings 2 and 3).

Real programs only: a virtual environment under /tmp (which the sandbox replaces with its
own), a data folder that is not there, and a worker process killed with SIGKILL mid-batch.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from classroom import AID, REPO, gradebook_scores, make_course, state

from kerasgrade import sandbox
from kerasgrade.frontends.pytest_plugin import SELFTEST_FAILED

pytestmark = pytest.mark.slow  # installs virtual environments, grades batches

# What a batch writes into the course folder: a refused batch must leave none of it.
RECORDS = ("gradebook.db", "grades.csv", ".kerasgrade", "feedback", "autograded")


def _venv(parent: Path) -> Iterator[Path]:
    """kerasgrade installed from this checkout into a new virtual environment in parent."""
    if reason := sandbox.unavailable_reason():
        pytest.skip(reason)
    venv = Path(tempfile.mkdtemp(prefix="kerasgrade-venv-", dir=parent))
    venv.chmod(0o755)  # as `python -m venv DIR` leaves it (mkdtemp makes it private)
    try:
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                       check=True)
        # This checkout, not whatever kerasgrade the system site-packages hold; alembic's
        # script in the venv's own bin/, where a venv of its own would have it.
        subprocess.run([venv / "bin" / "python", "-m", "pip", "install", "--quiet",
                        "--no-deps", "--no-build-isolation", "-e", str(REPO)], check=True)
        subprocess.run([venv / "bin" / "python", "-m", "pip", "install", "--quiet",
                        "--no-deps", "--ignore-installed", "alembic"], check=True)
        yield venv / "bin" / "python"
    finally:
        shutil.rmtree(venv, ignore_errors=True)


@pytest.fixture(scope="module")
def tmp_venv() -> Iterator[Path]:
    """kerasgrade in a virtual environment under /tmp, as many CI systems put theirs."""
    yield from _venv(Path("/tmp"))


@pytest.fixture(scope="module")
def installed_venv() -> Iterator[Path]:
    """kerasgrade in a virtual environment outside /tmp (which the sandbox replaces with its
    own) and outside the checkout, as an instructor installs it."""
    yield from _venv(Path("/var/tmp"))


def solution_course(root: Path) -> Path:
    """A course whose one student handed in the reference solution."""
    release = root / "assignments" / AID
    release.mkdir(parents=True)
    shutil.copy(REPO / "assignments" / AID / f"{AID}.ipynb", release)
    submitted = root / "submitted" / "sol" / AID
    submitted.mkdir(parents=True)
    shutil.copy(REPO / "solutions" / AID / f"{AID}.ipynb", submitted)
    return root


def venv_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "KERASGRADE_DATA_DIR", "KERASGRADE_NO_SAMPLE")}
    return env | extra


def test_venv_under_tmp_grades_the_solution(tmp_venv: Path, tmp_path: Path) -> None:
    root = solution_course(tmp_path)
    proc = subprocess.run([tmp_venv, "-m", "kerasgrade", "grade", AID, "--root", str(root),
                           "--workers", "1"], capture_output=True, text=True, timeout=900,
                          env=venv_env(), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "sol: 14/14 graded" in proc.stdout
    assert gradebook_scores(root) == {"sol": 14.0}


def test_installed_venv_grades_from_the_course_folder_not_activated(
        installed_venv: Path, tmp_path: Path) -> None:
    """`VENV/bin/kerasgrade grade ID` from the course folder, the venv not activated (its
    bin/ not on PATH: a service, cron, a script): it grades. Without bubblewrap it refuses on
    its first line and exit code, naming the package to install."""
    root = solution_course(tmp_path / "course")
    command = [str(installed_venv.parent / "kerasgrade"), "grade", AID, "--workers", "1"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=900,
                          env=venv_env(PATH="/usr/bin:/bin"), cwd=root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "sol: 14/14 graded" in proc.stdout
    assert gradebook_scores(root) == {"sol": 14.0}

    # The same machine without bwrap on PATH: the other tools of the sandbox are there.
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("prlimit", "setpriv"):
        (tools / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
    fresh = solution_course(tmp_path / "fresh")
    refused = subprocess.run(command, capture_output=True, text=True, timeout=300,
                             env=venv_env(PATH=str(tools)), cwd=fresh)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    first = " ".join(refused.stdout.split("\n\n")[0].split())  # rich wraps long lines
    assert first.startswith("kerasgrade grade: refused, nothing graded: The bubblewrap sandbox "
                            "does not work on this machine: bwrap not found on PATH (Debian/"
                            "Ubuntu: `sudo apt-get install bubblewrap`)"), refused.stdout
    assert not [name for name in RECORDS if (fresh / name).exists()]


def test_broken_environment_stops_before_grading(tmp_venv: Path, tmp_path: Path) -> None:
    """No data where the sandbox can read it: the self-test names the fault and the fix, the
    batch exits non-zero and records nothing, and `pytest autograder/` stops the same way."""
    root = solution_course(tmp_path / "course")
    empty = tmp_path / "no-data"
    empty.mkdir()
    broken = venv_env(KERASGRADE_DATA_DIR=str(empty), KERASGRADE_NO_SAMPLE="1")
    proc = subprocess.run([tmp_venv, "-m", "kerasgrade", "grade", AID, "--root", str(root),
                           "--workers", "1"], capture_output=True, text=True, timeout=900,
                          env=broken, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    out = proc.stdout.replace("\n", " ")
    assert "self-test failed, nothing was graded" in out
    assert "data is not available in the sandbox: Full MNIST was not found" in out
    assert "kerasgrade data fetch --dest DIR" in out
    assert not [name for name in RECORDS if (root / name).exists()]

    submission = root / "submitted" / "sol" / AID / f"{AID}.ipynb"
    pytest_run = subprocess.run(
        [tmp_venv, "-m", "pytest", str(REPO / "autograder"),
         "--submission", str(submission), "--results-json", str(tmp_path / "results.json")],
        capture_output=True, text=True, timeout=900, env=broken, cwd=REPO)
    assert pytest_run.returncode == SELFTEST_FAILED, pytest_run.stdout + pytest_run.stderr
    assert "self-test failed" in pytest_run.stdout + pytest_run.stderr
    assert not (tmp_path / "results.json").exists()


def _grading_worker(batch: psutil.Process, deadline: float) -> psutil.Process:
    """A pool process of the batch that is running a sandbox (so it holds a submission)."""
    while time.monotonic() < deadline:
        for child in batch.children():
            try:
                if "spawn_main" in " ".join(child.cmdline()) and child.children():
                    return child
            except psutil.NoSuchProcess:
                continue
        time.sleep(0.5)
    raise AssertionError("no worker started grading")


def test_killed_worker_costs_only_its_submission(tmp_path: Path) -> None:
    """kill -9 on one of two workers, as the OOM killer would: the submission it held is
    retried in a new worker, and every submission is graded."""
    if reason := sandbox.unavailable_reason():
        pytest.skip(reason)
    root = make_course(tmp_path, ("alice", "bob"))
    for student, like in (("erin", "alice"), ("frank", "bob")):
        folder = root / "submitted" / student / AID
        folder.mkdir(parents=True)
        shutil.copy(root / "submitted" / like / AID / f"{AID}.ipynb", folder)
    log = tmp_path / "run.log"
    with log.open("w") as out:
        run = subprocess.Popen([sys.executable, "-m", "kerasgrade", "grade", AID, "--root",
                                str(root), "--workers", "2"], stdout=out,
                               stderr=subprocess.STDOUT)
        try:
            victim = _grading_worker(psutil.Process(run.pid), time.monotonic() + 600)
            victim.send_signal(signal.SIGKILL)
            assert run.wait(timeout=900) == 0, log.read_text()
        finally:
            run.kill()
    text = log.read_text()
    assert f"its worker process (pid {victim.pid}) died, exit code -9; retrying" in text
    assert "graded 4, failed 0, skipped 0, grader failures 0" in text
    assert gradebook_scores(root) == {"alice": 14.0, "bob": 11.0, "erin": 14.0, "frank": 11.0}
    assert all(state(root, s).exists() for s in ("alice", "bob", "erin", "frank"))
