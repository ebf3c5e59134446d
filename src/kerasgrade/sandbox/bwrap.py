"""Run untrusted student code in a bubblewrap sandbox: namespaces, mounts, uid slots.

Inside the sandbox (``enabled=True``) a program sees an allowlist of the host, read-only: the
system's runtime (``SYSTEM_DIRS``), the grader's interpreter and every folder it imports from,
and the caller's ``readonly_binds`` (the data sets: policy.shown_paths). Besides those, a fresh
``/dev`` and ``/proc``, private size-capped tmpfs ``/tmp`` and ``/dev/shm``, its scratch
directory read-write (also cwd and HOME), empty read-only stand-ins for every ``hide`` path
inside what it sees, no network (only its own loopback, so a Jupyter kernel and client both
inside can talk), its own PID/IPC/UTS namespaces and session, an unprivileged uid and no
capabilities. Nothing else of the host exists there: a grading machine often holds other
copies of the course (a TA's clone, last term's course, the git repository beside the nbgrader
folder), and hiding the graded course's private paths would leave theirs readable.

When the grader runs as root, bubblewrap runs as root to set up the mounts, then ``setpriv`` drops
to uid/gid ``SANDBOX_UID + slot`` with every capability (bounding set included) cleared and
no_new_privs set before the program starts. Dropping privileges *before* bubblewrap (``bwrap
--unshare-user`` as that uid) would be simpler, but then bubblewrap resolves every bind source as
the sandbox uid and cannot expose an interpreter in a directory that uid may not enter (pyenv under
root's 0700 home). The mounts stay locked: a namespace the program creates later cannot unmount or
remount them. Without root, ``bwrap --unshare-user`` runs as the current user.

Limits: limits.py. Supervision (memory, wall time, output): watchdog.py.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TypedDict, Unpack

from kerasgrade.sandbox.limits import MIB, Limits, prlimit_argv, tool_path
from kerasgrade.sandbox.watchdog import SandboxRun, supervise

SANDBOX_UID = 61000  # slot n runs as uid/gid SANDBOX_UID + n when the grader is root
# Sandbox uids are SANDBOX_UID + slot. Slot 0 stays for one-off grading (pytest, `kerasgrade
# check`); batch tasks claim 1.. with a lock per slot and host, so concurrent tasks, runs and
# Dask workers on one machine never share a uid (and its process limit).
SLOTS = range(1, 65)
SLOT_DIR = Path(tempfile.gettempdir()) / "kerasgrade-slots"


# The system's read-only runtime (/bin, /sbin and /lib* are links into /usr where /usr is merged;
# they are made again as links). Jupyter's kernelspec, data and config folders lie inside these
# and the interpreter's prefix (sys.prefix/share/jupyter, /usr/local/share/jupyter,
# /usr/share/jupyter, /etc/jupyter), as the sandbox passes no JUPYTER_PATH. No /sys, /run,
# /home, /root, /srv, /opt, /var, /mnt, /media: Python, TensorFlow and Jupyter run without them
# (CPU counts come from sched_getaffinity and /proc).
SYSTEM_DIRS = tuple(Path(p) for p in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64",
                                      "/libx32", "/etc"))

# The system package each tool of the sandbox comes in (Debian and Ubuntu names).
PACKAGE_OF = {"bwrap": "bubblewrap", "prlimit": "util-linux", "setpriv": "util-linux"}


class SandboxUnavailable(RuntimeError):
    """bubblewrap, or a kernel feature it needs, does not work on this machine."""


def unavailable_reason() -> str:
    """Why the sandbox cannot be used on this machine, as a message for the user; "" if it can."""
    problem = _probe()
    if not problem:
        return ""
    return (
        f"The bubblewrap sandbox does not work on this machine: {problem}. Install bubblewrap "
        "and util-linux (prlimit, setpriv) and allow user namespaces, or pass --no-sandbox "
        "to run student notebooks without isolation (only for code you trust)."
    )


def check_available() -> None:
    """Raise SandboxUnavailable unless a trial sandboxed run works here (checked once)."""
    if reason := unavailable_reason():
        raise SandboxUnavailable(reason)


class Placement(TypedDict, total=False):
    """Where and how `run` and `spawn` place a program, besides its scratch folder.

    hide: directories become empty and read-only, files unreadable (missing paths and those
    outside what the sandbox shows are skipped).
    readonly_binds: paths shown read-only even under a hidden directory or one the sandbox uid
    may not enter (missing ones are skipped); the system's runtime, the running interpreter and
    the folders it imports from are always added, nothing else of the host. env: added to a
    minimal environment (PATH, LANG, HOME); the grader's is not passed on.
    limits: Limits() unless given. slot: the uid offset (see SLOTS). enabled=False
    (--no-sandbox): same limits and watchdog, no namespaces, current user.
    """

    hide: Sequence[Path]
    readonly_binds: Sequence[Path]
    env: Mapping[str, str] | None
    limits: Limits
    slot: int
    enabled: bool


def run(argv: Sequence[str], *, scratch: Path, **placement: Unpack[Placement]) -> SandboxRun:
    """Run argv with scratch as cwd and HOME, under the limits; sandboxed unless enabled=False."""
    command, scratch, env, limits, enabled = _prepare(argv, scratch, placement)
    return supervise(command, scratch, env, limits, enabled)


def spawn(argv: Sequence[str], *, scratch: Path,
          **placement: Unpack[Placement]) -> subprocess.Popen[bytes]:
    """Start a long-lived helper as `run` would (same sandbox and rlimits, no watchdog), with
    pipes to its stdin and stdout; the caller bounds each exchange and kills its process group."""
    command, scratch, env, limits, _ = _prepare(argv, scratch, placement)
    return subprocess.Popen(prlimit_argv(limits) + command, cwd=scratch, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def _prepare(argv: Sequence[str], scratch: Path, placement: Placement
             ) -> tuple[list[str], Path, dict[str, str], Limits, bool]:
    """The command line, resolved scratch, environment, limits and mode for run / spawn."""
    scratch = Path(scratch).resolve()
    scratch.mkdir(parents=True, exist_ok=True)
    limits = placement.get("limits", Limits())
    enabled = placement.get("enabled", True)
    env = _child_env(scratch, placement.get("env"))
    if not enabled:
        return list(argv), scratch, env, limits, enabled
    check_available()
    command = _bwrap_command(argv, scratch, placement.get("hide", ()),
                             placement.get("readonly_binds", ()), limits,
                             placement.get("slot", 0))
    return command, scratch, env, limits, enabled


@contextlib.contextmanager
def claim_slot() -> Iterator[int]:
    """The lowest free sandbox slot on this host, held (flock) until the block ends.

    Without root every sandbox runs as the current user and a slot chooses no uid: 0, no lock
    (the lock files of a root grader on this host would not even open)."""
    if os.geteuid() != 0:
        yield 0
        return
    SLOT_DIR.mkdir(exist_ok=True)
    while True:
        for slot in SLOTS:
            fd = os.open(SLOT_DIR / f"slot-{slot}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                yield slot
            finally:
                os.close(fd)  # closing the descriptor releases the lock
            return
        time.sleep(1.0)


@functools.cache
def _probe() -> str | None:
    """Why the sandbox cannot work here, or None: tries the tools, then a trial run of `true`."""
    tools = ["bwrap", "prlimit"] + (["setpriv"] if os.geteuid() == 0 else [])
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        # pip installs kerasgrade but not these: name the system packages that bring them.
        packages = sorted({PACKAGE_OF[tool] for tool in missing})
        return (f"{', '.join(missing)} not found on PATH (Debian/Ubuntu: `sudo apt-get install "
                f"{' '.join(packages)}`)")
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        limits = Limits(wall_seconds=60)
        try:
            command = _bwrap_command(["true"], scratch, (), (), limits, 0)
        except SandboxUnavailable as e:
            return str(e)
        trial = supervise(command, scratch, _child_env(scratch, None), limits, True)
    if trial.status != "ok":
        return f"a trial run failed ({trial.reason}): {trial.stderr.strip()[-500:]}"
    return None


def _child_env(scratch: Path, env: Mapping[str, str] | None) -> dict[str, str]:
    # The interpreter's directory comes first so `python`/`jupyter` mean the grader's environment.
    path = os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"])
    base = {
        "PATH": path,
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "HOME": str(scratch),
        # glibc reserves 64 MB of address space per malloc arena, up to 8 arenas per core; unused,
        # but RLIMIT_AS counts it (TensorFlow's VmPeak drops from 2.4 to 1.5 GB on 2 cores).
        "MALLOC_ARENA_MAX": "2",
    }
    return base | dict(env or {})


def _bwrap_command(
    argv: Sequence[str],
    scratch: Path,
    hide: Iterable[Path],
    readonly_binds: Iterable[Path],
    limits: Limits,
    slot: int,
) -> list[str]:
    as_root = os.geteuid() == 0
    uid, gid = (SANDBOX_UID + slot,) * 2 if as_root else (os.getuid(), os.getgid())
    if as_root:
        hand_over(scratch, uid, gid)
    tmpfs_size = str(limits.max_file_mb * MIB)  # tmpfs is RAM the watchdog cannot see
    command = [
        tool_path("bwrap"),
        *([] if as_root else ["--unshare-user"]),
        "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
        "--die-with-parent", "--new-session",
        "--dev", "/dev",
        "--proc", "/proc",
        "--perms", "1777", "--size", tmpfs_size, "--tmpfs", "/tmp",
        "--perms", "1777", "--size", tmpfs_size, "--tmpfs", "/dev/shm",
    ]  # fmt: skip
    command += _view(scratch, [Path(p).resolve() for p in hide],
                     [*SYSTEM_DIRS, *_interpreter_paths(), *map(Path, readonly_binds)], uid, gid)
    command += ["--chdir", str(scratch), "--"]
    if as_root:
        command += [
            tool_path("setpriv"),
            f"--reuid={uid}",
            f"--regid={gid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
            "--",
        ]
    return command + list(argv)


def _view(scratch: Path, hidden: list[Path], allowed: list[Path], uid: int, gid: int
          ) -> list[str]:
    """bwrap's mounts of the allowlist: scratch read-write, the existing ``allowed`` paths
    read-only at their real place (with the links that lead there), ``hidden`` paths inside
    them covered, on bwrap's empty root, which ends read-only."""
    links: dict[Path, str] = {}
    targets: set[Path] = set()
    for path in (p for p in allowed if p.exists()):
        targets.add(path.resolve())
        links.update(_links(path.absolute()))
    # One mount per tree; a path inside another is mounted again only to show it through a
    # hidden path above it.
    shown = sorted(t for t in targets
                   if any(t.is_relative_to(h) for h in hidden)
                   or not any(t != other and t.is_relative_to(other) for other in targets))
    trees = [scratch, *shown]
    mounts: list[tuple[Path, list[str]]] = []
    read_only: list[Path] = []  # remounted last: bwrap must still create mount points inside
    # A hidden path outside every tree is not there to hide: no stand-in tells it exists.
    for path in (h for h in hidden if any(h.is_relative_to(t) for t in trees)):
        if path.is_dir():
            mounts.append((path, ["--tmpfs", str(path)]))
            read_only.append(path)
        elif path.exists():
            # bwrap binds with nodev, so opening this stand-in fails with EACCES.
            mounts.append((path, ["--ro-bind", "/dev/null", str(path)]))
    # A path to show below a folder the sandbox uid may not enter (pyenv under root's 0700
    # home, pytest's 0700 temp folder) is reached through stand-ins for that folder and the ones
    # between: new 0755 directories that hold only the way to it, so the uid reaches the path
    # and nothing else the folder holds. Outside the trees these are the directories bwrap
    # makes on its root below; inside a tree the outermost blocked folder becomes an empty
    # tmpfs first.
    for blocked in {b for p in trees if (b := _blocked_ancestor(p, uid, gid, trees))}:
        mounts.append((blocked, ["--tmpfs", str(blocked)]))
        read_only.append(blocked)
    # The links on the way to a tree (merged /usr's /bin -> usr/bin, a venv reached through a
    # link) are made again where no tree already holds them.
    links = {at: to for at, to in links.items() if not any(at.is_relative_to(t) for t in trees)}
    # bwrap would create missing parents of a mount point with mode 0700, closed to the sandbox
    # uid; --dir makes them 0755 and leaves existing directories alone.
    parents = {parent for path in [*trees, *links] for parent in path.parents[:-1]}
    mounts += [(parent, ["--perms", "0755", "--dir", str(parent)]) for parent in parents]
    mounts += [(at, ["--symlink", to, str(at)]) for at, to in links.items()]
    mounts.append((scratch, ["--bind", str(scratch), str(scratch)]))
    mounts += [(path, ["--ro-bind", str(path), str(path)]) for path in shown]
    # Parents before children, so a bind inside a hidden directory shows through and a hidden
    # path inside a bind stays hidden (the sort is stable for equal depths).
    args: list[str] = []
    for _, mount in sorted(mounts, key=lambda mount: len(mount[0].parts)):
        args += mount
    for path in [*read_only, Path("/")]:  # bwrap's root: no writing beside the mounts
        args += ["--remount-ro", str(path)]
    return args


def hand_over(scratch: Path, uid: int, gid: int) -> None:
    """Give scratch to the sandbox uid; symlinks are chowned themselves, never followed."""
    os.chown(scratch, uid, gid)
    for root, dirs, files in os.walk(scratch):
        for name in dirs + files:
            os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)


@functools.cache
def _interpreter_paths() -> tuple[Path, ...]:
    """The grader's interpreter and where it imports from: its prefixes, the sys.path of a fresh
    process of it, and the folder this package is imported from (an editable checkout's src/,
    which a path finder rather than sys.path may serve).

    Not this process's sys.path: pytest, ``python -m`` and scripts put their own folders there,
    often a course checkout. ``-I`` leaves out the current folder, PYTHONPATH and the user's
    site-packages, none of which a sandboxed child uses (its HOME is its scratch folder)."""
    try:
        fresh = subprocess.run(
            [sys.executable, "-I", "-c", "import json, sys; print(json.dumps(sys.path))"],
            capture_output=True, text=True, timeout=120, check=True)
        entries = json.loads(fresh.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as e:
        raise SandboxUnavailable(f"{sys.executable} did not list its sys.path: {e}") from None
    package_root = Path(__file__).resolve().parents[2]
    return tuple(Path(p) for p in [sys.executable, sys.prefix, sys.base_prefix, *entries,
                                   package_root] if p and os.path.isabs(p))


def _links(path: Path) -> dict[Path, str]:
    """The symlinks met on the way to absolute ``path``: {where (resolved), what it holds}."""
    links: dict[Path, str] = {}
    done, todo, hops = Path("/"), list(path.parts[1:]), 0
    while todo and hops <= 40:  # the kernel's own limit; more means a loop
        here = done / todo.pop(0)
        if here.name == "..":
            done = done.parent
        elif here.is_symlink():
            links[here] = target = os.readlink(here)
            hops += 1
            if os.path.isabs(target):
                done, todo = Path("/"), list(Path(target).parts[1:]) + todo
            else:
                todo = list(Path(target).parts) + todo
        else:
            done = here
    return links


def _blocked_ancestor(path: Path, uid: int, gid: int, trees: Iterable[Path]) -> Path | None:
    """The outermost directory above path, inside one of ``trees``, that uid/gid may not enter."""
    for parent in reversed(path.parents[:-1]):
        if not any(parent != tree and parent.is_relative_to(tree) for tree in trees):
            continue
        info = parent.stat()
        if info.st_uid == uid:
            bit = stat.S_IXUSR
        elif info.st_gid == gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not info.st_mode & bit:
            return parent
    return None
