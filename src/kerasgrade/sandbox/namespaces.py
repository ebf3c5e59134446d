"""A fresh sandbox for a process forked inside a running one (the warm kernels' zygote).

bubblewrap builds a sandbox around a program it starts; a forked child of a warm process
must build its own, without exec. `isolate` gives the calling (single-threaded, just forked)
process new user, mount, PID, network, IPC and UTS namespaces, with the same unprivileged
uid: fresh size-capped tmpfs /tmp and /dev/shm, the enclosing sandbox's scratch folder
read-only except the one folder that is this job's, and its own loopback. Its next child is
PID 1 of the new PID namespace: when that child exits, the kernel kills everything the job
started. The enclosing bubblewrap sandbox's mounts, hidden paths and limits stay in force.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import re
import socket
import struct
from pathlib import Path

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
# statvfs flag -> mount flag: a remount must repeat the flags the enclosing sandbox locked
_KEPT_FLAGS = {os.ST_NOSUID: MS_NOSUID, os.ST_NODEV: MS_NODEV, os.ST_NOEXEC: MS_NOEXEC,
               os.ST_NOATIME: MS_NOATIME, os.ST_NODIRATIME: MS_NODIRATIME,
               os.ST_RELATIME: MS_RELATIME}
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 1
IFREQ = "16sH22x"  # struct ifreq: the name, then ifr_flags in a 24-byte union

_libc = ctypes.CDLL(None, use_errno=True)


class IsolationError(OSError):
    """The kernel refused a namespace or a mount: the grader's fault, never the student's."""


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise IsolationError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source: str | None, target: str | Path, fstype: str | None, flags: int,
           data: str | None = None) -> None:
    _check(_libc.mount(source and source.encode(), str(target).encode(),
                       fstype and fstype.encode(), flags, data and data.encode()),
           f"mount {target}")


def isolate(scratch_root: Path, job: Path, tmpfs_bytes: int) -> None:
    """Enter new namespaces: job (inside scratch_root) stays writable, the rest of
    scratch_root becomes read-only, /tmp and /dev/shm are new and empty."""
    uid, gid = os.getuid(), os.getgid()
    _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET
                         | CLONE_NEWIPC | CLONE_NEWUTS), "unshare")
    # Map the uid onto itself: files keep their owner, and the job has no other identity.
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
    Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing done here reaches the zygote
    for path in ("/tmp", "/dev/shm"):
        # What the enclosing sandbox bound below (the scratch folder, a clone of the course
        # in /tmp) comes back on the new tmpfs, as it was, read-only binds included.
        kept = [(point, os.open(point, os.O_PATH)) for point in _top_mounts_below(path)]
        _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"size={tmpfs_bytes},mode=1777")
        for point, fd in kept:
            if os.path.isdir(f"/proc/self/fd/{fd}"):
                os.makedirs(point, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(point), exist_ok=True)
                Path(point).touch()
            _mount(f"/proc/self/fd/{fd}", point, None, MS_BIND | MS_REC)
            os.close(fd)
    _mount(str(job), job, None, MS_BIND | MS_REC)  # its own mount: stays writable below
    kept = os.statvfs(scratch_root).f_flag
    flags = sum(ms for st, ms in _KEPT_FLAGS.items() if kept & st)
    _mount(None, scratch_root, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags)
    _loopback_up()


def _top_mounts_below(folder: str) -> list[str]:
    """The outermost mount points strictly inside folder (their submounts come along)."""
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        # Field 5 is the mount point, with space, tab, newline and backslash as octal escapes.
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), line.split()[4])
        if point.startswith(folder.rstrip("/") + "/"):
            points.append(point)
    return sorted(p for p in set(points)
                  if not any(p.startswith(q + "/") for q in points if q != p))


def _loopback_up() -> None:
    """A new network namespace starts with its loopback down; the kernel and its client
    talk over it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack(IFREQ, b"lo", 0)
        flags = struct.unpack(IFREQ, fcntl.ioctl(s, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack(IFREQ, b"lo", flags | IFF_UP))
