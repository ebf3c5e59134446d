"""The gradebook on a real PostgreSQL server, started here: `kerasgrade grade --db`, a batch
killed and resumed against it, then the course pointed at it in nbgrader_config.py, which
`kerasgrade grade` and `nbgrader export` both read.
"""

from __future__ import annotations

import csv
import glob
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
from classroom import AID, EXPECTED, grade, make_course, state
from nbgrader.api import Gradebook

pytestmark = pytest.mark.slow  # a PostgreSQL server; graded batches

STUDENTS = tuple(EXPECTED)  # alice (full marks), bob (a mistake), carol (a broken file)


def _postgres_bin() -> Path:
    """Debian keeps the server programs in /usr/lib/postgresql/<version>/bin, off PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[4]))
    initdb = found[-1] if found else shutil.which("initdb")
    if not initdb:
        pytest.fail("PostgreSQL is not installed: run scripts/setup.sh test")
    return Path(initdb).parent


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A server of its own: a fresh cluster in a temporary folder, reachable only through a
    unix socket in that folder (no TCP port), stopped and deleted at the end."""
    bin_dir = _postgres_bin()
    # The server refuses to run as root: as root, it runs as Debian's postgres user.
    as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    home = Path(tempfile.mkdtemp(prefix="kerasgrade-pg-"))
    data = home / "data"
    if as_owner:
        shutil.chown(home, "postgres", "postgres")
    try:
        subprocess.run([*as_owner, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres",
                        "--auth=trust", "-E", "UTF8"], check=True, capture_output=True)
        subprocess.run([*as_owner, str(bin_dir / "pg_ctl"), "start", "-w", "-D", str(data),
                        "-l", str(home / "server.log"), "-o",
                        f"-c listen_addresses='' -c unix_socket_directories='{home}'"],
                       check=True, capture_output=True)
        try:
            subprocess.run([str(bin_dir / "createdb"), "-h", str(home), "-U", "postgres",
                            "course"], check=True, capture_output=True)
            yield f"postgresql://postgres@/course?host={home}"
        finally:
            subprocess.run([*as_owner, str(bin_dir / "pg_ctl"), "stop", "-m", "fast", "-D",
                            str(data)], capture_output=True)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _scores(url: str) -> dict[str, float]:
    with Gradebook(url) as gb:
        return {s.student.id: s.score for s in gb.assignment_submissions(AID)}


def _export(root: Path, *extra: str) -> dict[str, float]:
    out = root / "export.csv"
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "export", "--to", str(out), *extra],
                          cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with out.open() as f:
        return {r["student_id"]: float(r["score"]) for r in csv.DictReader(f)}


def test_batch_killed_resumed_and_exported(postgres_url: str, tmp_path: Path) -> None:
    root = make_course(tmp_path / "course", STUDENTS)
    log = (tmp_path / "run.log").open("w")
    run = subprocess.Popen([sys.executable, "-m", "kerasgrade", "grade", AID, "--root",
                            str(root), "--workers", "1", "--db", postgres_url],
                           stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while not state(root, "alice").exists():
        assert run.poll() is None and time.monotonic() < deadline, \
            (tmp_path / "run.log").read_text()[-3000:]
        time.sleep(0.2)
    descendants = psutil.Process(run.pid).children(recursive=True)
    run.send_signal(signal.SIGKILL)
    run.wait()
    psutil.wait_procs(descendants, timeout=15)
    # Killed mid-way: what was graded is in the server's gradebook, the rest is not.
    assert not state(root, "bob").exists() and not state(root, "carol").exists()
    assert _scores(postgres_url) == {"alice": 14.0}

    rerun = grade(root, "--workers", "1", "--db", postgres_url)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "2 to grade" in rerun.stdout and "graded 1, failed 1, skipped 1" in rerun.stdout
    assert _scores(postgres_url) == EXPECTED
    assert not (root / "gradebook.db").exists()  # nothing went to the default SQLite file
    assert _export(root, "--db", postgres_url) == EXPECTED

    # The course pointed at the server in its nbgrader config: both tools find it there.
    (root / "nbgrader_config.py").write_text(
        f"c = get_config()  # noqa: F821\nc.CourseDirectory.db_url = {postgres_url!r}\n")
    again = grade(root)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "graded 0, failed 0, skipped 3" in again.stdout
    with Gradebook(postgres_url) as gb:
        assert len(gb.assignment_submissions(AID)) == len(STUDENTS)
        grades = {g.name: g.auto_score for g in gb.find_submission_notebook(AID, AID,
                                                                           "bob").grades}
    assert grades["architecture"] == 0 and grades["epochs"] == 1
    assert _export(root) == EXPECTED
    assert not (root / "gradebook.db").exists()
