"""The exchange's inbound folder read as hostile input: every student can write there.

An entry is read without following links: every open is O_NOFOLLOW relative to its parent's
descriptor, so a link swapped in after a check is not followed either. Sizes, file counts and
depth are capped before anything is read. An entry that passes is copied at once into the
service's own folder: what is graded is what arrived, whatever its owner changes later.
Identity is the entry's Unix owner, the time of arrival the kernel's (the entry's last change),
never what the student wrote in a name or in timestamp.txt.
"""

from __future__ import annotations

import errno
import os
import pwd
import shutil
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import fnmatch
from pathlib import Path

from nbgrader.utils import parse_utc

from kerasgrade.course.layout import STUDENT_ID
from kerasgrade.report.text import printable

TIMESTAMP = "timestamp.txt"
SECRET = "submission_secret.txt"
TIMESTAMP_BYTES = 256  # nbgrader writes one short line
SETTLE_SECONDS = 1.0  # nbgrader submit sets the entry's permissions after its last file
# An entry unfinished for this long never will be: quarantined, so that no pile of them is
# read again on every poll.
STALE_SECONDS = 600.0
# The grading machine's own trouble (disk full, I/O): the service pauses and reads again.
MACHINE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.ENOMEM}


class Refused(Exception):
    """The entry cannot be trusted: quarantined with this reason, never graded."""


class NotFinished(Exception):
    """nbgrader submit is still writing the entry: read it again on a later poll."""


@dataclass(frozen=True)
class Caps:
    file_bytes: int
    total_bytes: int
    files: int
    depth: int


@dataclass(frozen=True)
class Claim:
    """What an entry's name says: to be verified, never believed."""

    key: str  # the name as text (bytes that are not UTF-8 escaped): the queue's key
    student: str
    assignment: str


@dataclass(frozen=True)
class Arrival:
    """An entry that passed: its verified student, and the copy the service took of it."""

    key: str
    student: str
    assignment: str
    arrived: float  # unix time: the entry's last change, as the kernel recorded it
    written: str  # what timestamp.txt said, for the log
    copy: Path


def key(raw: bytes) -> str:
    return raw.decode("utf-8", "backslashreplace")


def claim(raw: bytes) -> Claim:
    """The student and assignment an entry's name claims, as `nbgrader collect` splits it."""
    name = key(raw)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused("its name is not UTF-8 text") from None
    parts = name.rsplit("+", 3)
    if len(parts) < 3:
        raise Refused("its name is not student+assignment+time as nbgrader submit writes it")
    student, assignment = parts[0], parts[1]
    if not STUDENT_ID.fullmatch(student):
        raise Refused(f"the student id {printable(student)!r} is not an id (letters, digits, "
                      "and _ . @ - only)")
    return Claim(name, student, assignment)


def owner_problem(student: str, uid: int) -> str:
    """Why the entry's Unix owner is not the student it names, or ""."""
    try:
        owner = pwd.getpwuid(uid).pw_name
    except KeyError:
        owner = f"uid {uid}"
    if owner == student:
        return ""
    return (f"it names {student} but belongs to Unix user {owner}: a submission counts only "
            "for the student who made it")


def read(inbound: int, raw: bytes, found: Claim, dest: Path, caps: Caps,
         ignore: list[str], owned_by: int | None) -> Arrival:
    """Check the entry ``raw`` of the inbound folder (a descriptor) and copy it into dest.

    owned_by: the uid every file must belong to (the verified student), None to not check.
    Raises Refused, NotFinished, or OSError for the machine's own trouble."""
    info = os.stat(raw, dir_fd=inbound, follow_symlinks=False)
    if not stat.S_ISDIR(info.st_mode):
        raise Refused(f"it is {_kind(info.st_mode)}, not a folder")
    fd = _open(raw, inbound, os.O_DIRECTORY)
    try:
        if (os.fstat(fd).st_ino, os.fstat(fd).st_dev) != (info.st_ino, info.st_dev):
            raise NotFinished()  # replaced while we looked: read it again next poll
        names = set(os.listdir(fd))
        if TIMESTAMP not in names or SECRET not in names:
            if time.time() - info.st_ctime > STALE_SECONDS:
                raise Refused(f"it has had no {TIMESTAMP} or no {SECRET} for "
                              f"{STALE_SECONDS // 60:.0f} minutes: nbgrader submit writes both "
                              "at once")
            raise NotFinished()
        if time.time() - info.st_ctime < SETTLE_SECONDS:
            raise NotFinished()
        written = _timestamp(fd)
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True, mode=0o700)
        try:
            walk = _Walk(caps, ignore, owned_by)
            walk.copy(fd, dest, "", 1)
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)
            raise
    finally:
        os.close(fd)
    arrived = min(time.time(), max(info.st_ctime, walk.newest))
    return Arrival(found.key, found.student, found.assignment, arrived, written, dest)


def stamp(arrived: float) -> str:
    """A time as nbgrader writes timestamp.txt (Exchange.timestamp_format, UTC)."""
    return datetime.fromtimestamp(arrived, UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC")


def _timestamp(folder: int) -> str:
    fd = _open(TIMESTAMP, folder, 0)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Refused(f"{TIMESTAMP} is {_kind(info.st_mode)}, not a file")
        if info.st_size > TIMESTAMP_BYTES:
            raise Refused(f"{TIMESTAMP} holds {info.st_size} bytes; nbgrader writes one line")
        text = os.read(fd, TIMESTAMP_BYTES + 1).decode("utf-8", "replace").strip()
    finally:
        os.close(fd)
    try:
        if parse_utc(text) is None:
            raise ValueError(text)
    except (ValueError, OverflowError, TypeError):
        raise Refused(f"{TIMESTAMP} holds {printable(text, 60)!r}, not a date") from None
    return text


def _open(name: str | bytes, folder: int, flags: int) -> int:
    try:
        return os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | flags,
                       dir_fd=folder)
    except OSError as exc:
        if exc.errno in MACHINE_ERRNOS:
            raise
        raise Refused(f"{_shown(name)} cannot be opened ({os.strerror(exc.errno or 0)})"
                      ) from None


def _shown(name: str | bytes) -> str:
    return printable(key(name) if isinstance(name, bytes) else name, 80)


def _kind(mode: int) -> str:
    kinds = [(stat.S_ISLNK, "a link"), (stat.S_ISREG, "a file"), (stat.S_ISCHR, "a device"),
             (stat.S_ISBLK, "a device"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")]
    return next((what for test, what in kinds if test(mode)), "not a file")


class _Walk:
    """One pass over an entry: checks each node as it is met and copies the files."""

    def __init__(self, caps: Caps, ignore: list[str], owned_by: int | None) -> None:
        self.caps, self.ignore, self.owned_by = caps, ignore, owned_by
        self.files = 0
        self.total = 0
        self.newest = 0.0

    def copy(self, folder: int, dest: Path, rel: str, depth: int) -> None:
        if depth > self.caps.depth:
            raise Refused(f"its folders nest deeper than {self.caps.depth} levels")
        for name in self._names(folder):
            path = f"{rel}{name}"
            if any(fnmatch(name, pattern) for pattern in self.ignore):
                continue  # nbgrader's collect passes these over too (.ipynb_checkpoints, ...)
            info = os.stat(name, dir_fd=folder, follow_symlinks=False)
            self.newest = max(self.newest, info.st_ctime)
            self._vet(path, info)
            if stat.S_ISDIR(info.st_mode):
                sub = _open(name, folder, os.O_DIRECTORY)
                try:
                    self._same(sub, info, path)
                    (dest / name).mkdir(mode=0o700)
                    self.copy(sub, dest / name, f"{path}/", depth + 1)
                finally:
                    os.close(sub)
            else:
                self._file(folder, name, path, info, dest / name)

    def _names(self, folder: int) -> Iterator[str]:
        entries = os.listdir(folder)
        if len(entries) + self.files > self.caps.files:
            raise Refused(f"it holds more than {self.caps.files} files")
        for name in sorted(entries):
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:
                raise Refused(f"a file name in it is not UTF-8 text ({_shown(name)})") from None
            yield name

    def _vet(self, path: str, info: os.stat_result) -> None:
        mode = info.st_mode
        if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
            hint = "; hand in the file itself" if stat.S_ISLNK(mode) else ""
            raise Refused(f"{_shown(path)} is {_kind(mode)}{hint}")
        if self.owned_by is not None and info.st_uid != self.owned_by:
            raise Refused(f"{_shown(path)} belongs to another Unix user")
        if stat.S_ISREG(mode):
            if info.st_nlink > 1:
                raise Refused(f"{_shown(path)} is a hard link to another file")
            if info.st_size > self.caps.file_bytes:
                raise Refused(f"{_shown(path)} is {info.st_size} bytes, over the "
                              f"limit of {self.caps.file_bytes}")
            self.files += 1
            self.total += info.st_size
            if self.files > self.caps.files:
                raise Refused(f"it holds more than {self.caps.files} files")
            if self.total > self.caps.total_bytes:
                raise Refused(f"its files add up to more than {self.caps.total_bytes} bytes")

    @staticmethod
    def _same(fd: int, info: os.stat_result, path: str) -> None:
        now = os.fstat(fd)
        if (now.st_ino, now.st_dev) != (info.st_ino, info.st_dev):
            raise Refused(f"{_shown(path)} changed while it was read")

    def _file(self, folder: int, name: str, path: str, info: os.stat_result,
              target: Path) -> None:
        fd = _open(name, folder, 0)
        try:
            self._same(fd, info, path)
            left = info.st_size + 1  # a file that grows while read is cut, then refused
            with target.open("wb") as out:
                os.fchmod(out.fileno(), 0o600)
                while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
                    out.write(chunk)
                    left -= len(chunk)
            if left <= 0:
                raise Refused(f"{_shown(path)} grew while it was read")
        finally:
            os.close(fd)
