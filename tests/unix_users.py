"""Real Unix users for the tests that need a second account (the exchange, the hub), and the
Python they run: Debian's python3 in a venv every user can read (ours lives under /root, which
they cannot enter).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

DEBIAN_PYTHON = Path("/usr/bin/python3")


@dataclass(frozen=True)
class Student:
    name: str
    uid: int
    gid: int
    home: Path
    nbgrader: Path

    def run(self, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
        """An nbgrader command as this user, in a clean environment (nothing of root's)."""
        proc = self.command(str(self.nbgrader), *args, cwd=cwd, env=env)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
        return proc

    def command(self, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
                ) -> subprocess.CompletedProcess[str]:
        """Any command as this user, with the venv's tools first on PATH."""
        env = {"HOME": str(self.home), "USER": self.name, "LOGNAME": self.name,
               "PATH": f"{self.nbgrader.parent}:/usr/bin:/bin", "LANG": "C.UTF-8",
               **(env or {})}
        return subprocess.run(list(args), cwd=cwd or self.home, env=env,
                              user=self.uid, group=self.gid, extra_groups=[],
                              capture_output=True, text=True, timeout=300)


def need_root_and_debian_python() -> None:
    if os.geteuid() != 0:
        pytest.skip("creating Unix users needs root")
    if not DEBIAN_PYTHON.exists():
        pytest.skip(f"{DEBIAN_PYTHON} is missing: scripts/setup.sh test installs python3-venv")


@contextlib.contextmanager
def unix_user(name: str, home: Path, venv: Path, password: str | None = None
              ) -> Iterator[Student]:
    """A real account with its home at ``home`` (removed with it), a password for PAM if
    given, running nbgrader from ``venv``."""
    home.parent.mkdir(parents=True, exist_ok=True)
    # HOME_MODE: no one reads another's home (Debian's default, from UMASK 022, is 0755).
    for _ in range(10):  # another test may hold /etc/passwd's lock for a moment
        made = subprocess.run(["useradd", "--create-home", "--home-dir", str(home), "--shell",
                               "/usr/sbin/nologin", "-K", "HOME_MODE=0700", name],
                              capture_output=True, text=True)
        if made.returncode == 0 or "lock" not in made.stderr:
            break
        time.sleep(1)
    assert made.returncode == 0, made.stderr
    try:
        if password is not None:
            subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True, check=True,
                           capture_output=True)
        account = pwd.getpwnam(name)
        yield Student(name, account.pw_uid, account.pw_gid, home, venv / "bin" / "nbgrader")
    finally:
        end_processes_of(name)
        subprocess.run(["userdel", "--remove", "--force", name], capture_output=True)


def end_processes_of(name: str) -> None:
    """Whatever the test made run as this user (a server, a kernel) and still runs."""
    try:
        uid = pwd.getpwnam(name).pw_uid
    except KeyError:
        return
    left = [p for p in psutil.process_iter(["uids"]) if p.info["uids"] and
            p.info["uids"].real == uid]
    for p in left:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(left, timeout=5)


def debian_venv(venv: Path, requirements: Sequence[str]) -> Path:
    """A venv of Debian's python3 at ``venv`` with ``requirements`` installed (pip's wheel
    cache, root's, makes a rebuild quick)."""
    subprocess.run([str(DEBIAN_PYTHON), "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                    "--disable-pip-version-check", *requirements], check=True,
                   capture_output=True)
    return venv


def cached_venv(parent: Path, requirements: Sequence[str], key: str) -> tuple[Path, float]:
    """A venv under ``parent`` named after ``key`` (what goes into it), built once and then
    reused: (its path, the seconds this call spent building it; 0 when it was there)."""
    digest = hashlib.sha256(key.encode())
    venv = parent / f"venv-{digest.hexdigest()[:16]}"
    done = venv / ".complete"  # written last: a half-built venv from a killed run is rebuilt
    if done.is_file():
        return venv, 0.0
    shutil.rmtree(venv, ignore_errors=True)
    parent.mkdir(parents=True, exist_ok=True)
    parent.chmod(0o755)
    start = time.monotonic()
    debian_venv(venv, requirements)
    done.write_text("\n".join(requirements) + "\n")
    return venv, time.monotonic() - start
