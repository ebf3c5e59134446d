"""Reading the exchange's inbound folder as hostile input (fast: no service, no kernel).

Each entry is checked and copied by kerasgrade.frontends.serve.inbound: links, devices, FIFOs,
sockets, sparse giants, deep trees, names that are not UTF-8 or not ids are refused with a
reason; nothing is followed or read past a cap. test_hostile_exchange.py runs the same
attacks against the real service with real Unix users.
"""

from __future__ import annotations

import os
import re
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kerasgrade import settings
from kerasgrade.frontends.serve import inbound
from kerasgrade.frontends.serve.exchange import Exchange

AID = "02-connected-networks"
STAMP = "2026-12-04 15:00:00.000000 UTC"
CAPS = inbound.Caps(file_bytes=1_000_000, total_bytes=3_000_000, files=50, depth=4)


def entry(inbound_dir: Path, name: str | bytes = f"alice+{AID}+{STAMP}+abc",
          stamp: bytes = STAMP.encode()) -> Path:
    """An entry as nbgrader submit leaves it: a notebook, timestamp.txt, the secret; settled."""
    folder = Path(os.fsdecode(os.path.join(os.fsencode(inbound_dir), os.fsencode(name))))
    folder.mkdir(parents=True)
    (folder / f"{AID}.ipynb").write_text('{"cells": []}')
    (folder / inbound.TIMESTAMP).write_bytes(stamp)
    (folder / inbound.SECRET).write_text("s3cret")
    return folder


@pytest.fixture(autouse=True)
def _settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Entries made here are complete at once: no second's wait for nbgrader's last chmod
    (test_an_unfinished_entry_is_read_again_later keeps it)."""
    monkeypatch.setattr(inbound, "SETTLE_SECONDS", 0.0)


def read(inbound_dir: Path, folder: Path, tmp: Path, owned_by: int | None = None
         ) -> inbound.Arrival:
    raw = os.fsencode(folder.name)
    fd = os.open(inbound_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return inbound.read(fd, raw, inbound.claim(raw), tmp / "copy", CAPS,
                            [".ipynb_checkpoints"], owned_by)
    finally:
        os.close(fd)


def refusal(inbound_dir: Path, folder: Path, tmp: Path) -> str:
    with pytest.raises(inbound.Refused) as refused:
        read(inbound_dir, folder, tmp)
    assert not (tmp / "copy").exists(), "a refused entry leaves no copy behind"
    return str(refused.value)


def test_an_honest_entry_is_copied_and_dated_by_its_arrival(tmp_path: Path) -> None:
    box = tmp_path / "inbound"
    folder = entry(box, stamp=b"2020-01-01 00:00:00.000000 UTC")  # a forged past date
    (folder / ".ipynb_checkpoints").mkdir()
    (folder / ".ipynb_checkpoints" / "x").symlink_to("/etc/shadow")  # ignored as nbgrader does
    before = time.time()
    got = read(box, folder, tmp_path, owned_by=os.getuid())
    assert (got.student, got.assignment) == ("alice", AID)
    assert got.written.startswith("2020-01-01")
    assert before - 5 < got.arrived <= time.time(), "lateness is judged on the arrival"
    assert sorted(p.name for p in got.copy.iterdir()) == sorted(
        [f"{AID}.ipynb", inbound.TIMESTAMP, inbound.SECRET])
    (folder / f"{AID}.ipynb").write_text("changed later")
    assert (got.copy / f"{AID}.ipynb").read_text() == '{"cells": []}'


@pytest.mark.parametrize("make, reason", [
    (lambda f: (f / "solution.ipynb").symlink_to("/work/solutions/x.ipynb"), "is a link"),
    (lambda f: (f / "zero").symlink_to("/dev/zero"), "is a link"),
    (lambda f: os.mkfifo(f / "pipe"), "is a FIFO"),
    (lambda f: os.truncate(_touch(f / "sparse"), 1 << 40), "over the limit"),
    (lambda f: os.link(f / inbound.SECRET, f / "again"), "hard link"),
    (lambda f: _deep(f, 6), "nest deeper"),
    (lambda f: [_touch(f / f"n{i}") for i in range(60)], "more than 50 files"),
    (lambda f: _touch(f / os.fsdecode(b"bad\xff")), "not UTF-8"),
])
def test_what_a_submission_may_not_hold_is_refused_with_a_reason(make, reason: str,
                                                                  tmp_path: Path) -> None:
    box = tmp_path / "inbound"
    folder = entry(box)
    make(folder)
    assert reason in refusal(box, folder, tmp_path)


def test_a_socket_and_a_device_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    monkeypatch.chdir(tmp_path)
    box = tmp_path / "inbound"
    folder = entry(box)
    with socket.socket(socket.AF_UNIX) as sock:
        os.chdir(folder)  # a socket's path is capped at 108 bytes: bind it by a short one
        sock.bind("sock")
        assert "is a socket" in refusal(box, folder, tmp_path)
    os.unlink(folder / "sock")
    if os.geteuid() != 0:
        pytest.skip("making a device node needs root")
    os.mknod(folder / "zero", stat.S_IFCHR | 0o666, os.makedev(1, 5))
    assert "is a device" in refusal(box, folder, tmp_path)


@pytest.mark.parametrize("stamp, reason", [
    (b"\xff\xfe not utf-8", "not a date"),
    (b"soon", "not a date"),
    (b"9" * 300, "holds 300 bytes"),
])
def test_a_timestamp_is_read_with_a_cap_and_parsed(stamp: bytes, reason: str,
                                                   tmp_path: Path) -> None:
    box = tmp_path / "inbound"
    folder = entry(box, stamp=stamp)
    assert reason in refusal(box, folder, tmp_path)


def test_a_timestamp_that_is_a_sparse_giant_or_a_link_is_never_read(tmp_path: Path) -> None:
    box = tmp_path / "inbound"
    folder = entry(box)
    os.truncate(folder / inbound.TIMESTAMP, 1 << 40)
    assert "holds 1099511627776 bytes" in refusal(box, folder, tmp_path)
    (folder / inbound.TIMESTAMP).unlink()
    (folder / inbound.TIMESTAMP).symlink_to("/dev/zero")
    assert "cannot be opened" in refusal(box, folder, tmp_path)


def test_an_entry_that_is_a_link_to_another_students_folder_is_refused(tmp_path: Path) -> None:
    box = tmp_path / "inbound"
    bob = entry(box, f"bob+{AID}+{STAMP}+b")
    (box / f"mallory+{AID}+{STAMP}+m").symlink_to(bob)
    assert "is a link, not a folder" in refusal(box, box / f"mallory+{AID}+{STAMP}+m", tmp_path)


def test_an_unfinished_entry_is_read_again_later(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    box = tmp_path / "inbound"
    folder = entry(box)
    (folder / inbound.SECRET).unlink()  # nbgrader submit writes the secret after the timestamp
    with pytest.raises(inbound.NotFinished):
        read(box, folder, tmp_path)
    (folder / inbound.SECRET).write_text("s3cret")
    monkeypatch.setattr(inbound, "SETTLE_SECONDS", 30.0)  # its permissions may change yet
    with pytest.raises(inbound.NotFinished):
        read(box, folder, tmp_path)
    monkeypatch.setattr(inbound, "SETTLE_SECONDS", 0.0)
    assert read(box, folder, tmp_path).student == "alice"


def test_an_entry_left_unfinished_is_quarantined_in_the_end(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    box = tmp_path / "inbound"
    folder = entry(box)
    (folder / inbound.TIMESTAMP).unlink()
    with pytest.raises(inbound.NotFinished):
        read(box, folder, tmp_path)
    monkeypatch.setattr(inbound, "STALE_SECONDS", 0.0)  # as if ten minutes had passed
    assert "no timestamp.txt or no submission_secret.txt for" in refusal(box, folder, tmp_path)


@pytest.mark.parametrize("name, reason", [
    (b"[m]allory+" + AID.encode() + b"+t+x", "is not an id"),
    (b"..+" + AID.encode() + b"+t+x", "is not an id"),
    (b"<img src=x onerror=alert(1)>+" + AID.encode() + b"+t+x", "is not an id"),
    (b"a+b+" + AID.encode() + b"+t+x", "is not an id"),
    (b"\xffalice+" + AID.encode() + b"+t+x", "not UTF-8"),
    (b"just-a-folder", "not student+assignment+time"),
])
def test_a_name_that_is_not_an_id_is_refused_before_anything_is_read(name: bytes,
                                                                     reason: str) -> None:
    with pytest.raises(inbound.Refused, match=re.escape(reason)):
        inbound.claim(name)


def test_the_owner_must_be_the_student_named() -> None:
    me = __import__("pwd").getpwuid(os.getuid()).pw_name
    assert inbound.owner_problem(me, os.getuid()) == ""
    assert f"belongs to Unix user {me}" in inbound.owner_problem("alice", os.getuid())
    assert "uid 4000000" in inbound.owner_problem("alice", 4_000_000)


def test_an_unreleased_course_is_waited_for(tmp_path: Path) -> None:
    exchange = tmp_path / "exchange"
    course = tmp_path / "course"
    course.mkdir()
    (course / "nbgrader_config.py").write_text(
        "c = get_config()  # noqa: F821\nc.CourseDirectory.course_id = 'kerasgrade'\n"
        f"c.Exchange.root = {str(exchange)!r}\n")
    reader = Exchange(settings.load(course)[1])
    assert reader.problem() == ""
    assert "inbound folder" in reader.waiting() and "release_assignment" in reader.waiting()
    (exchange / "kerasgrade" / "inbound").mkdir(parents=True)
    assert reader.waiting() == ""


def _touch(path: Path) -> Path:
    path.write_text("x")
    return path


def _deep(folder: Path, levels: int) -> None:
    path = folder.joinpath(*(f"d{i}" for i in range(levels)))
    path.mkdir(parents=True)
    _touch(path / "f")


@pytest.mark.slow  # nbgrader's apps, the service as a process
def test_a_course_whose_students_are_no_unix_users_is_refused_unless_the_risk_is_accepted(
        tmp_path: Path) -> None:
    """Ownership cannot tell students apart when none of them is a Unix user here (every
    server under one uid): the service says so and does not serve."""
    from nbgrader_course import make_course, nbgrader

    course = make_course(tmp_path, AID, {})
    with (course / "nbgrader_config.py").open("a") as f:
        f.write(f"\nc.Exchange.root = {str(tmp_path / 'exchange')!r}\n")
    for student in ("kg-nobody-1", "kg-nobody-2"):
        nbgrader(course, "db", "student", "add", student)
    serve = [sys.executable, "-m", "kerasgrade", "serve", "--root", str(course)]
    refused = subprocess.run(serve, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "none of the 2 students on the roster is a Unix user" in refused.stdout
    assert "trust_inbound_names = True" in refused.stdout
