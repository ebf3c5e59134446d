"""`kerasgrade serve` tried as a hostile student would, with real Unix users on nbgrader's exchange.

Three students are real Unix users on the roster: alice and bob hand in honestly with nbgrader's
own `submit`; mallory hands in honestly too, then writes into the inbound folder by hand
(Debian's python3, as her own user): several hundred fuzzed entries (random bytes in names and
timestamps, links everywhere, FIFOs, sockets, sparse giants, deep and wide trees, ids with
`+`, `..`, glob characters and HTML) beside the attacks of issue #31 by group. One service
runs through all of it, is restarted, and meets a locked queue; each test below reads one
group's outcome from that run.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import nbformat
import pytest
from classroom import AID
from nbgrader.api import Gradebook
from nbgrader_course import make_course, nbgrader
from serving import DENSE32, SOLVED, events, notebook, start, stop, wait_for
from unix_users import Student, cached_venv, need_root_and_debian_python, unix_user

from kerasgrade import sandbox

pytestmark = pytest.mark.slow

COURSE_ID = "kerasgrade"  # nbgrader_config.py's
VENVS = Path("/var/cache/kerasgrade-exchange")
FUZZ = 300
# Mallory's own program, run by Debian's python3 as her Unix user: every entry it makes is
# finished (timestamp.txt and the secret are there), so every one must end quarantined.
MALLORY = r'''
import json, os, random, socket, sys
inbound, aid, me, alice, solution = sys.argv[1:6]
count = int(sys.argv[6])
rng = random.Random(31)
made = []

def finish(path, stamp=b"2026-12-06 12:00:00.000000 UTC"):
    with open(os.path.join(path, b"timestamp.txt"), "wb") as f:
        f.write(stamp)
    with open(os.path.join(path, b"submission_secret.txt"), "w") as f:
        f.write("x")

def folder(name, stamp=b"2026-12-06 12:00:00.000000 UTC", notebook=True):
    path = os.path.join(os.fsencode(inbound), name)
    os.mkdir(path)
    if notebook:
        with open(os.path.join(path, aid.encode() + b".ipynb"), "w") as f:
            f.write('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    finish(path, stamp)
    made.append(name)
    return path

def name(student, i):
    return student + b"+" + aid.encode() + b"+2026-12-06 12:00:00.000000 UTC+" + str(i).encode()

# The attacks of the issue, one each.
folder(name(alice.encode(), "future"), b"2099-01-01 00:00:00.000000 UTC")  # impersonation
p = folder(name(me.encode(), "solution"), notebook=False)
os.symlink(solution, os.path.join(p, aid.encode() + b".ipynb"))  # the instructor's solution
os.symlink(os.path.join(os.fsencode(inbound), name(alice.encode(), "future")),
           os.path.join(os.fsencode(inbound), name(me.encode(), "linked")))  # another's folder
made.append(name(me.encode(), "linked"))
folder(name(b"..", "dotdot"))
folder(name(b"[m]" + me[1:].encode(), "glob"))
folder(name(me.encode() + b"-2", "again"))
folder(name(b"<img src=x onerror=document.title='pwned'>", "html"))
folder(name(me.encode(), "stamp"), b"\xff\xfe\x00 not a date")
p = folder(name(me.encode(), "zero"))
os.symlink("/dev/zero", os.path.join(p, b"data.bin"))
p = folder(name(me.encode(), "sparse"))
with open(os.path.join(p, b"timestamp.txt"), "wb") as f:
    f.truncate(1 << 40)
folder(b"\xff\xfe" + name(me.encode(), "bytes"))

# The fuzz.
kinds = ["link", "zero", "fifo", "socket", "sparse", "deep", "wide", "stamp", "bigstamp",
         "hardlink", "toplink", "topfile"]
ids = [me.encode(), alice.encode(), b"..", b"a+b", b"*", b"[x]", b"<b>x</b>", b"x/../y", b"",
       b"mallory\nroot", b"\x1b[31m"]
for i in range(count):
    raw = bytes(rng.randrange(1, 256) for _ in range(rng.randrange(1, 12))).replace(b"/", b"_")
    if (i // len(kinds)) % 2 == 0:  # her own valid name: only the content can be refused
        entry = name(me.encode(), f"fuzz{i}")
    else:
        student = rng.choice(ids + [raw])
        entry = name(student, f"fuzz{i}") if rng.random() < 0.8 else raw + str(i).encode()
    if b"/" in entry or entry in (b".", b".."):
        entry = entry.replace(b"/", b"_") + b"_"
    kind = kinds[i % len(kinds)]
    target = os.path.join(os.fsencode(inbound), entry)
    if kind == "toplink":
        os.symlink(rng.choice([b"/etc", os.fsencode(solution), b"/dev/zero"]), target)
        made.append(entry)
        continue
    if kind == "topfile":
        with open(target, "wb") as f:
            f.write(os.urandom(64))
        made.append(entry)
        continue
    p = folder(entry, bytes(rng.randrange(0, 256) for _ in range(40))
               if kind == "stamp" else b"2026-12-06 12:00:00.000000 UTC")
    if kind == "link":
        os.symlink(rng.choice([solution, "/etc/passwd", "../" * 5 + "etc"]),
                   os.path.join(p, b"x" + str(i).encode()))
    elif kind == "zero":
        os.symlink("/dev/urandom", os.path.join(p, aid.encode() + b".ipynb.bak"))
    elif kind == "fifo":
        os.mkfifo(os.path.join(p, b"pipe"))
    elif kind == "socket":
        here = os.getcwd()
        os.chdir(p)
        s = socket.socket(socket.AF_UNIX)
        s.bind("s")
        s.close()
        os.chdir(here)
    elif kind == "sparse":
        with open(os.path.join(p, b"big"), "wb") as f:
            f.truncate(1 << 42)
    elif kind == "deep":
        q = p
        for d in range(40):
            q = os.path.join(q, b"d")
            os.mkdir(q)
    elif kind == "wide":
        for n in range(1100):
            open(os.path.join(p, str(n).encode()), "w").close()
    elif kind == "bigstamp":
        with open(os.path.join(p, b"timestamp.txt"), "wb") as f:
            f.truncate(1 << 36)
    elif kind == "hardlink":
        os.link(os.path.join(p, b"submission_secret.txt"), os.path.join(p, b"copy"))
print(json.dumps([m.decode("utf-8", "backslashreplace") for m in made]))
'''


@dataclass(frozen=True)
class Run:
    course: Path
    exchange: Path
    log: str
    events: list[dict[str, Any]]
    names: dict[str, str]  # alice, bob, mallory -> Unix user name
    hostile: list[str]  # every entry mallory made by hand (names as the queue keys them)
    honest: dict[str, list[str]]  # student -> the inbound names of their nbgrader submits
    outside_before: dict[str, tuple[int, int]]
    outside_after: dict[str, tuple[int, int]]
    scores: dict[str, float]
    timestamps: dict[str, datetime]
    listing: str
    started: float  # unix time the service was first started


def _tree(root: Path, skip: tuple[Path, ...]) -> dict[str, tuple[int, int]]:
    """Every path under root but skip, with its size and mtime: what the attacks must not
    change."""
    found = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if Path(folder, d) not in skip]
        for name in files:
            info = os.lstat(os.path.join(folder, name))
            found[os.path.join(folder, name)] = (info.st_size, int(info.st_mtime))
    return found


def _submit(student: Student, exchange: Path, kind: str) -> str:
    """nbgrader submit as the student's Unix user; the inbound entry it made."""
    desk = student.home / "course"
    (desk / AID).mkdir(parents=True, exist_ok=True)
    (desk / "nbgrader_config.py").write_text(
        f"c = get_config()  # noqa: F821\nc.Exchange.root = {str(exchange)!r}\n"
        f"c.CourseDirectory.course_id = {COURSE_ID!r}\n")
    nbformat.write(notebook(kind), desk / AID / f"{AID}.ipynb")
    shutil.chown(desk, student.uid, student.gid)
    for path in desk.rglob("*"):
        os.chown(path, student.uid, student.gid)
    inbound = exchange / COURSE_ID / "inbound"
    before = set(os.listdir(inbound))
    student.run("submit", AID, cwd=desk)
    [new] = {n for n in os.listdir(inbound) if n.startswith(student.name + "+")} - before
    return new


@pytest.fixture(scope="module")
def run() -> Iterator[Run]:
    need_root_and_debian_python()
    if reason := sandbox.unavailable_reason():
        pytest.skip(reason)
    requirement = f"nbgrader=={version('nbgrader')}"
    venv, _ = cached_venv(VENVS, [requirement], requirement)
    base = Path(tempfile.mkdtemp(prefix="kerasgrade-hostile-"))
    base.chmod(0o755)
    tag = os.getpid() % 100_000
    names = {"alice": f"kgal{tag}", "bob": f"kgbo{tag}", "mallory": f"kgma{tag}"}
    try:
        with unix_user(names["alice"], base / "home" / names["alice"], venv) as alice, \
                unix_user(names["bob"], base / "home" / names["bob"], venv) as bob, \
                unix_user(names["mallory"], base / "home" / names["mallory"], venv) as mallory:
            yield _attack(base, names, alice, bob, mallory)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _attack(base: Path, names: dict[str, str], alice: Student, bob: Student,
            mallory: Student) -> Run:
    exchange = base / "exchange"
    exchange.mkdir()
    exchange.chmod(0o777 | 0o1000)  # as nbgrader's docs set it up: everyone, sticky
    course = make_course(base, AID, {})
    with (course / "nbgrader_config.py").open("a") as f:
        f.write(f"\nc.Exchange.root = {str(exchange)!r}\nc.Kerasgrade.max_attempts = 2\n")
    nbgrader(course, "generate_assignment", AID)
    nbgrader(course, "db", "assignment", "add", AID, "--duedate=2099-01-01 00:00:00 UTC")
    for name in names.values():
        nbgrader(course, "db", "student", "add", name)
    nbgrader(course, "release_assignment", AID)
    solution = course / "source" / AID / f"{AID}.ipynb"
    solution.parent.chmod(0o755)  # readable, so a link to it is the attack the issue found
    solution.chmod(0o644)
    inbound = exchange / COURSE_ID / "inbound"
    outside = (exchange, course, base / "home", base / "log")
    outside_before = _tree(base, outside)
    log = base / "log" / "serve.log"
    log.parent.mkdir()
    started = time.time()
    proc = start(course, log)
    honest: dict[str, list[str]] = {"alice": [], "bob": [], "mallory": []}
    try:
        honest["alice"].append(_submit(alice, exchange, "solved"))
        honest["bob"].append(_submit(bob, exchange, "dense32"))
        honest["mallory"].append(_submit(mallory, exchange, "dense32"))
        made = mallory.command("/usr/bin/python3", "-c", MALLORY, str(inbound), AID,
                               mallory.name, alice.name, str(solution), str(FUZZ))
        assert made.returncode == 0, made.stderr[-3000:]
        hostile = json.loads(made.stdout)
        wait_for(course, proc, log, "released", 3)
        wait_for(course, proc, log, "quarantined", len(hostile))
        # Her second attempt she makes by hand, dated long before the deadline: graded, but
        # dated by its arrival. A third is past the limit; then she tries a new id.
        first = honest["mallory"][0]
        forged = first.replace(first.split("+")[2], "2020-01-01 00:00:00.000000 UTC")
        copied = mallory.command("/usr/bin/python3", "-c", (
            "import os, shutil, sys; src, dst = sys.argv[1:]; shutil.copytree(src, dst); "
            "p = os.path.join(dst, 'timestamp.txt'); os.chmod(p, 0o644); "
            "open(p, 'w').write('2020-01-01 00:00:00.000000 UTC')"),
            str(inbound / first), str(inbound / forged))
        assert copied.returncode == 0, copied.stderr
        honest["mallory"].append(forged)
        wait_for(course, proc, log, "released", 4)
        honest["mallory"].append(_submit(mallory, exchange, "dense32"))
        wait_for(course, proc, log, "refused")
        again = mallory.command("/usr/bin/python3", "-c", (
            "import os, shutil, sys; src, dst = sys.argv[1:]; shutil.copytree(src, dst)"),
            str(inbound / honest["mallory"][-1]),
            str(inbound / honest["mallory"][-1].replace(mallory.name, mallory.name + "-2", 1)))
        assert again.returncode == 0, again.stderr
        hostile.append(honest["mallory"][-1].replace(mallory.name, mallory.name + "-2", 1))
        wait_for(course, proc, log, "quarantined", len(hostile))
        assert stop(proc) == 0

        # Restarted with every hostile entry still there: it serves. Then the machine fails
        # it: the disk where it copies submissions is full, then the queue is locked. It
        # pauses, and bob's submission is graded once the trouble is gone.
        proc = start(course, log)
        mark = len(log.read_text())
        _wait_log(log, "serving ", mark, proc)
        full = course / ".kerasgrade" / "serve" / "arrived"
        full.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "kerasgrade-full", str(full)],
                       check=True)
        try:
            filler = os.open(full / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
            space = os.statvfs(full)
            os.posix_fallocate(filler, 0, space.f_bavail * space.f_frsize)
            os.close(filler)
            honest["bob"].append(_submit(bob, exchange, "dense32"))
            _wait_log(log, "paused: OSError: [Errno 28] No space left on device", mark, proc)
            queue = sqlite3.connect(course / ".kerasgrade" / "serve" / "queue.db",
                                    isolation_level=None, timeout=60)
            queue.execute("BEGIN EXCLUSIVE")
            (full / "filler").unlink()
            _wait_log(log, "paused: sqlite3.OperationalError: database is locked", mark, proc)
            queue.execute("ROLLBACK")
            queue.close()
            wait_for(course, proc, log, "released", 5)
        finally:
            subprocess.run(["umount", "--lazy", str(full)], check=True)
        assert stop(proc) == 0
    finally:
        proc.kill()
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        submissions = gb.assignment_submissions(AID)
        scores = {s.student.id: s.score for s in submissions}
        timestamps = {s.student.id: s.timestamp for s in submissions}
    return Run(course, exchange, log.read_text(), events(course), names, hostile, honest,
               outside_before, _tree(base, outside), scores, timestamps,
               quarantine_listing(course), started)


def _wait_log(log: Path, text: str, after: int, proc: subprocess.Popen[bytes]) -> None:
    """Wait until the service's log says text (past the offset after)."""
    deadline = time.monotonic() + 600
    while text not in log.read_text()[after:]:
        assert proc.poll() is None, f"the service exited:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no {text!r}:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)


def quarantine_listing(course: Path) -> str:
    done = subprocess.run([sys.executable, "-m", "kerasgrade", "serve", "--root", str(course),
                           "--quarantine"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def by(run: Run, event: str) -> list[dict[str, Any]]:
    return [e for e in run.events if e["event"] == event]


def test_every_honest_submission_is_graded_and_released_exactly_once(run: Run) -> None:
    honest = [n for names in run.honest.values() for n in names]
    graded = sorted(e["inbound"] for e in by(run, "graded"))
    assert graded == sorted(honest[:2] + run.honest["mallory"][:2] + run.honest["bob"][1:])
    assert sorted(e["inbound"] for e in by(run, "released")) == graded
    assert run.scores == {run.names["alice"]: SOLVED, run.names["bob"]: DENSE32,
                          run.names["mallory"]: DENSE32}
    assert not by(run, "fault")


def test_group1_no_entry_stops_the_service_even_after_a_restart(run: Run) -> None:
    """Bytes that are not UTF-8 in names and timestamps, sparse giants, links to endless
    devices, glob ids: each is quarantined; the service served on, restarted, and a full disk
    and a locked queue paused it rather than stopping it."""
    quarantined = by(run, "quarantined")
    assert sorted(e["inbound"] for e in quarantined) == sorted(run.hostile)
    assert len(run.hostile) > FUZZ
    reasons = " | ".join(e["detail"] for e in quarantined)
    for reason in ("not UTF-8", "is a link", "is a FIFO", "is a socket", "over the limit",
                   "nest deeper", "more than 1000 files", "not a date", "holds 68719476736 "
                   "bytes", "hard link", "is not an id", "not a folder"):
        assert reason in reasons, reason
    assert "paused: OSError: [Errno 28] No space left on device" in run.log
    assert "paused: sqlite3.OperationalError: database is locked" in run.log
    assert run.log.count("serving ") == 2  # started twice, never exited on its own
    # Every entry is read once: the restart did not quarantine them again.
    assert len(quarantined) == len({e["inbound"] for e in quarantined})


def test_group2_nobody_submits_as_another(run: Run) -> None:
    forged = next(e for e in by(run, "quarantined") if e["inbound"].endswith("+future"))
    assert f"belongs to Unix user {run.names['mallory']}" in forged["detail"]
    alice = run.names["alice"]
    assert [e["inbound"] for e in by(run, "graded") if e["student"] == alice] == \
        run.honest["alice"]
    assert not [e for e in by(run, "replaced") if e["student"] == alice]


def test_lateness_is_judged_on_the_arrival_not_on_what_a_student_wrote(run: Run) -> None:
    """Mallory's second attempt says 2020 in its name and its timestamp.txt: the gradebook
    dates it by its arrival, so a date before the deadline dodges no late penalty."""
    forged = run.honest["mallory"][1]
    assert "2020-01-01" in forged
    [queued] = [e for e in by(run, "queued") if e["inbound"] == forged]
    assert "timestamp.txt said 2020-01-01" in queued["detail"]
    stamp = run.timestamps[run.names["mallory"]].replace(tzinfo=UTC).timestamp()
    assert run.started <= stamp <= time.time()


def test_group3_links_hand_in_nothing_and_nothing_is_written_outside(run: Run) -> None:
    details = {e["inbound"]: e["detail"] for e in by(run, "quarantined")}
    mallory = run.names["mallory"]
    solution = next(d for n, d in details.items() if n.startswith(mallory) and
                    n.endswith("+solution"))
    assert f"{AID}.ipynb is a link" in solution
    linked = next(d for n, d in details.items() if n.endswith("+linked"))
    assert "is a link, not a folder" in linked
    assert "is not an id" in next(d for n, d in details.items() if n.endswith("+dotdot"))
    assert sorted(os.listdir(run.course / "submitted")) == sorted(run.names.values())
    assert not (run.course / AID).exists()
    assert run.outside_after == run.outside_before


def test_group4_limits_count_the_verified_student(run: Run) -> None:
    mallory = run.names["mallory"]
    assert [e["inbound"] for e in by(run, "refused")] == [run.honest["mallory"][2]]
    assert [e["attempt"] for e in by(run, "graded") if e["student"] == mallory] == [1, 2]
    second_id = next(d for n, d in ((e["inbound"], e["detail"]) for e in by(run, "quarantined"))
                     if n.startswith(f"{mallory}-2+"))
    assert "belongs to Unix user" in second_id
    assert not (run.course / "submitted" / f"{mallory}-2").exists()


def test_group5_no_markup_reaches_the_gradebook_and_the_log_is_escaped(run: Run) -> None:
    with Gradebook(f"sqlite:///{run.course / 'gradebook.db'}") as gb:
        assert sorted(s.id for s in gb.students) == sorted(run.names.values())
    html = next(e for e in by(run, "quarantined") if e["inbound"].endswith("+html"))
    assert "is not an id" in html["detail"]
    assert "\x1b[31m" not in run.log and "\\x1b[31m" in run.log
    assert "<img src=x onerror" in run.listing  # text on a terminal, never a page
    assert f"{len(run.hostile)} quarantined entries" in run.listing
