"""`kerasgrade serve --scheduler` on a real Dask cluster: a scheduler and two workers, each a
process of its own under a Unix user that is not the instructor's and cannot read the course.
A job carries the notebook and the assignment and brings back the result; the service alone
writes. One service run: graded on the cluster; a worker killed mid-grading; the scheduler
restarted with a grading in flight. The journal and the gradebook show nothing lost and
nothing graded twice.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import serving
from classroom import AID
from hub_venv import DASK_PINNED, hub_venv
from lab_server import free_port
from serving import (
    DENSE32,
    SOLVED,
    Student,
    events,
    served_course,
    slow_solution,
    start,
    stop,
    wait_for,
)
from unix_users import Student as UnixUser
from unix_users import need_root_and_debian_python, unix_user

from kerasgrade import sandbox

pytestmark = pytest.mark.slow

STARTUP_SECONDS = 120  # a worker imports kerasgrade; the machine may be busy


@dataclass
class Cluster:
    """A scheduler and two workers (each under a nanny) run by `user` from `venv`."""

    user: UnixUser
    venv: Path
    address: str
    scheduler: subprocess.Popen[bytes] | None = None
    workers: tuple[subprocess.Popen[bytes], ...] = ()

    def _run(self, *args: str) -> subprocess.Popen[bytes]:
        env = {"HOME": str(self.user.home), "USER": self.user.name, "LANG": "C.UTF-8",
               "PATH": f"{self.venv / 'bin'}:/usr/bin:/bin"}
        with (self.user.home / "cluster.log").open("ab") as log:
            return subprocess.Popen([str(self.venv / "bin" / "dask"), *args, "--no-dashboard"],
                                    cwd=self.user.home, env=env, user=self.user.uid,
                                    group=self.user.gid, extra_groups=[],
                                    stdout=log, stderr=subprocess.STDOUT)

    def up(self) -> None:
        """A new scheduler at the same address, and two new workers, ready."""
        from distributed import Client

        host, port = self.address.removeprefix("tcp://").rsplit(":", 1)
        self.scheduler = self._run("scheduler", "--host", host, "--port", port)
        self.workers = tuple(self._run("worker", self.address, "--host", host, "--nworkers", "1",
                                       "--nthreads", "1", "--local-directory",
                                       str(self.user.home / f"w{i}")) for i in range(2))
        with Client(self.address, timeout=STARTUP_SECONDS) as client:
            client.wait_for_workers(2, timeout=STARTUP_SECONDS)

    def down(self, sig: int = signal.SIGTERM) -> None:
        """The scheduler killed with sig, the workers (nannies and their processes) ended."""
        if self.scheduler is not None:
            self.scheduler.send_signal(sig)
            self.scheduler.wait(timeout=60)
        for nanny in self.workers:
            tree = [nanny, *(psutil.Process(nanny.pid).children(recursive=True)
                             if nanny.poll() is None else [])]
            for proc in tree:
                proc.kill()
            nanny.wait(timeout=60)

    def worker_pids(self) -> dict[str, int]:
        from distributed import Client

        with Client(self.address, timeout=STARTUP_SECONDS) as client:
            return client.run(os.getpid)

    def holder(self, student: str) -> int:
        """The pid of the worker grading this student's job, once one is."""
        from distributed import Client

        with Client(self.address, timeout=STARTUP_SECONDS) as client:
            pids = client.run(os.getpid)
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                for address, keys in client.processing().items():
                    if any(f"-{student}-" in str(key) for key in keys):
                        return pids[address]
                time.sleep(0.2)
        raise AssertionError(f"no worker took {student}'s job in 300 s")


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    need_root_and_debian_python()
    if reason := sandbox.unavailable_reason():
        pytest.skip(reason)
    venv, _, _ = hub_venv("dask", DASK_PINNED)  # kerasgrade, TensorFlow and Dask, for them
    base = Path(tempfile.mkdtemp(prefix="kerasgrade-dask-"))
    base.chmod(0o755)
    name = f"kgdk{os.getpid() % 100_000}"
    try:
        with unix_user(name, base / name, venv) as user:
            made = Cluster(user, venv, f"tcp://127.0.0.1:{free_port()}")
            try:
                made.up()
                yield made
            finally:
                made.down()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _zygotes(worker: int) -> set[int]:
    """The warm kernel processes (zygotes) a Dask worker holds, not the jobs forked from them."""
    def zygote(proc: psutil.Process) -> bool:
        return proc.cmdline()[1:3] == ["-m", "kerasgrade.jobs.warm.zygote"]

    return {p.pid for p in psutil.Process(worker).children(recursive=True)
            if zygote(p) and not zygote(p.parent())}


def _wait_serving(proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 600
    while not any(line.startswith("serving ") for line in log.read_text().splitlines()):
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-4000:]
        time.sleep(0.5)


def _state_pid(course: Path, student: str) -> int:
    stored = course / ".kerasgrade" / "results" / AID / f"{student}.json"
    return json.loads(stored.read_text())["worker"]["pid"]


def test_served_on_a_cluster_that_loses_a_worker_and_its_scheduler(
        cluster: Cluster, tmp_path: Path) -> None:
    course = served_course(tmp_path)
    # The workers run as another user: the course (root's, under a 0700 folder) is closed
    # to them, so whatever they grade came with the job.
    readable = cluster.user.command("test", "-r", str(course / "nbgrader_config.py"))
    assert readable.returncode != 0, "the cluster's user can read the course"
    alice, bob, carol, dave, erin = (Student.at(course, n)
                                     for n in ("alice", "bob", "carol", "dave", "erin"))
    log = tmp_path / "serve.log"
    proc = start(course, log, workers=2, args=("--scheduler", cluster.address))
    try:
        # (a) each worker warm before the first submission; two submissions, one on each
        # worker, graded by the zygote it already held, with the local scores
        _wait_serving(proc, log)
        assert "2 worker(s) warm in" in log.read_text()
        first = cluster.worker_pids()
        warm = {pid: _zygotes(pid) for pid in first.values()}
        assert all(len(z) == 1 for z in warm.values()), warm
        names = [alice.submit("solved"), bob.submit("dense32")]
        wait_for(course, proc, log, "released", 2)
        assert {_state_pid(course, s) for s in ("alice", "bob")} == set(first.values())
        assert {pid: _zygotes(pid) for pid in first.values()} == warm

        # (b) the worker grading carol is killed: the other one grades her, once
        names.append(carol.submit(slow_solution(20)))
        victim = cluster.holder("carol")
        time.sleep(5)  # well into the grading: its kernel waits in the slow cell
        os.kill(victim, signal.SIGKILL)
        wait_for(course, proc, log, "released", 3)
        [other] = set(first.values()) - {victim}
        assert _state_pid(course, "carol") == other
        assert _zygotes(other) == warm[other], "the surviving worker stayed warm"

        # (c) the scheduler goes away with erin's grading in flight; dave submits meanwhile
        names.append(erin.submit("dense32"))
        cluster.holder("erin")
        cluster.down(signal.SIGKILL)
        [retried] = wait_for(course, proc, log, "retried")
        assert retried["student"] == "erin" and "went away" in retried["detail"]
        names.append(dave.submit("solved"))
        wait_for(course, proc, log, "started", 5)  # handed to the pool, which holds it
        cluster.up()
        wait_for(course, proc, log, "released", 5)
        assert stop(proc) == 0
    finally:
        proc.kill()
    text = log.read_text()
    assert "went away: 1 job(s) wait for it" in text, text  # said once, when it went
    assert "answers again: 2 job(s) handed out again" in text, text  # erin's, and dave's
    journal = events(course)
    for event in ("queued", "started", "graded", "released"):
        counted = Counter(e["inbound"] for e in journal if e["event"] == event)
        assert counted == Counter(names), (event, counted)
    assert [e["student"] for e in journal if e["event"] == "retried"] == ["erin"]
    assert not [e for e in journal if e["event"] in ("fault", "quarantined")]
    assert serving.scores(course) == {"alice": SOLVED, "bob": DENSE32, "carol": SOLVED,
                                      "dave": SOLVED, "erin": DENSE32}
