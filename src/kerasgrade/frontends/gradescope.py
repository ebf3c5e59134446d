"""A Gradescope autograder for one assignment: build the zip here, grade inside Gradescope.

`kerasgrade gradescope ID -o autograder.zip` writes a zip holding
  setup.sh                  Gradescope runs it once, as root, when it builds the image
  run_autograder            Gradescope runs it per submission; it calls `main` below
  kerasgrade-gradescope.json  which assignment, and whether the 5,000-digit sample may be used
  kerasgrade-*.whl          this kerasgrade, built from its source checkout
  assignments/ID/ID.ipynb   the released notebook: locked cells are restored from it
  data/                     the assignment's data set, so that grading needs no internet

Inside the container a submission takes the path every front end takes (`grade_notebook`) and
its results.json comes from `report/gradescope.py: write`.

Isolation: bubblewrap needs user namespaces or CAP_SYS_ADMIN, which a Docker container often
lacks. Gradescope's container holds one submission and is thrown away, so there it may be the
isolation instead, but only when the caller says so (`--container-isolation`, which
run_autograder passes); the choice is printed in the autograder's output. Without the flag
grading fails closed, as `kerasgrade grade` does.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import kerasgrade
from kerasgrade import data, environment, sandbox
from kerasgrade.course.layout import pick_notebook, private_paths, release_notebook
from kerasgrade.frontends import assignment
from kerasgrade.frontends.grader import Grader
from kerasgrade.grade import failed_result
from kerasgrade.report import gradescope as results_json
from kerasgrade.sandbox import MIB, Limits
from kerasgrade.settings import Kerasgrade

AUTOGRADER = Path("/autograder")
CONFIG = "kerasgrade-gradescope.json"
# Where each data set lives in a data folder (kerasgrade.data's layout).
DATA_ENTRIES = {data.MNIST: ("mnist.npz", "mnist"), data.FASHION_MNIST: ("fashion-mnist",)}
TEMPLATES = {"setup.sh": "gradescope-setup.sh", "run_autograder": "gradescope-run_autograder"}
# The grader process beside the student's kernel (nbformat, nbgrader, the runner's client).
GRADER_HEADROOM_MB = 512
# Grading 02 on full MNIST peaked at 1.4 GB (PSS of the whole tree, measured 2026-11-29).
NEEDED_MB = 1536
CGROUP_MEMORY = (Path("/sys/fs/cgroup/memory.max"),
                 Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"))


class BuildError(RuntimeError):
    """The autograder cannot be built as asked; the message says what to do."""


@dataclass(frozen=True)
class Built:
    path: Path
    data_source: str
    members: tuple[str, ...]


def build(root: Path, assignment_id: str, output: Path, data_dir: Path | None = None,
          allow_sample: bool = False) -> Built:
    """Write the autograder zip for assignment_id of the course at root.

    data_dir: a folder filled by `kerasgrade data fetch` (default: fetched now into a temporary
    one). Without the full data set there, building fails unless allow_sample, and then grading
    on Gradescope uses the 5,000-digit MNIST sample (for trying the autograder out).
    """
    spec = assignment(assignment_id)
    release = release_notebook(root, assignment_id)
    if not release.is_file():
        raise BuildError(f"no released notebook at {release}: run `kerasgrade course build`")
    with tempfile.TemporaryDirectory(prefix="kerasgrade-gradescope-") as tmp:
        stage = Path(tmp) / "zip"
        stage.mkdir()
        for name, template in TEMPLATES.items():
            target = stage / name
            target.write_bytes((resources.files("kerasgrade") / "templates" / template)
                               .read_bytes())
            target.chmod(0o755)
        source = _stage_data(spec.dataset, data_dir, stage / "data", Path(tmp) / "fetched",
                             allow_sample)
        _build_wheel(stage)
        release_notebook(stage, assignment_id).parent.mkdir(parents=True)
        shutil.copyfile(release, release_notebook(stage, assignment_id))
        config = {"assignment": assignment_id, "allow_sample": allow_sample,
                  "kerasgrade": kerasgrade.__version__, "data_source": source}
        (stage / CONFIG).write_text(json.dumps(config, indent=2))
        output.parent.mkdir(parents=True, exist_ok=True)
        members = []
        with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(stage.rglob("*")):
                if path.is_file():
                    name = path.relative_to(stage).as_posix()
                    # compressed data sets gain nothing from deflate
                    kind = zipfile.ZIP_STORED if path.suffix in (".gz", ".npz") else None
                    zf.write(path, name, compress_type=kind)
                    members.append(name)
    return Built(output, source, tuple(members))


def _build_wheel(stage: Path) -> None:
    """This kerasgrade as a wheel, built from a copy of its checkout (the checkout is left
    untouched: setuptools writes build folders where it builds)."""
    checkout = Path(kerasgrade.__file__).resolve().parents[2]
    if not (checkout / "pyproject.toml").is_file():
        raise BuildError(f"kerasgrade at {checkout} is not a source checkout: build the "
                         "autograder from a clone of the course repository")
    with tempfile.TemporaryDirectory(prefix="kerasgrade-wheel-") as tmp:
        copy = Path(tmp) / "kerasgrade"
        shutil.copytree(checkout / "src", copy / "src",
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        for name in ("pyproject.toml", "README.md"):
            shutil.copyfile(checkout / name, copy / name)
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
             "--disable-pip-version-check", "-w", str(stage), str(copy)],
            capture_output=True, text=True)
        if proc.returncode:
            raise BuildError(f"building the kerasgrade wheel failed:\n{proc.stderr[-2000:]}")


def _stage_data(dataset: str, data_dir: Path | None, target: Path, scratch: Path,
                allow_sample: bool) -> str:
    """Copy dataset's files from data_dir (or a fresh fetch) into target; its source name."""
    if data_dir is None:
        data_dir = scratch
        print("\n".join(data.fetch(data_dir)))
    target.mkdir()
    for entry in DATA_ENTRIES[dataset]:
        path = data_dir / entry
        if path.is_dir():
            shutil.copytree(path, target / entry)
        elif path.is_file():
            shutil.copyfile(path, target / entry)
    if not any(target.iterdir()):
        if allow_sample:
            return data.SAMPLE_SOURCE
        raise BuildError(f"{data_dir} holds no {dataset}: fill it with `kerasgrade data fetch "
                         f"--dest {data_dir}`, or pass --allow-sample to grade on the "
                         "5,000-digit MNIST sample")
    # Read back from the copy, checked, the way grading will read it.
    loaded = data.load(dataset, data_dir=target)
    if str(target) not in loaded.origin:
        raise BuildError(f"the {dataset} files in {data_dir} are not usable; the loader took "
                         f"{loaded.origin} instead")
    return loaded.source


# ---------------------------------------------------------------------------------------
# Inside Gradescope's container


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m kerasgrade.frontends.gradescope",
                                description="Grade /autograder/submission (run_autograder).")
    p.add_argument("--autograder", type=Path, default=AUTOGRADER)
    p.add_argument("--container-isolation", action="store_true",
                   help="run without bubblewrap when it cannot start: the container is the "
                        "isolation (Gradescope's, one submission each)")
    args = p.parse_args(argv)
    source = args.autograder / "source"
    results = args.autograder / "results" / "results.json"
    config = json.loads((source / CONFIG).read_text())
    aid = config["assignment"]

    sandboxed = True
    if reason := sandbox.unavailable_reason():
        if not args.container_isolation:
            print(f"{reason}\nHere, --container-isolation instead grades without bubblewrap, "
                  "the container being the isolation.", file=sys.stderr)
            return 2  # no results.json: Gradescope reports a failed autograder, not a score
        sandboxed = False
        print(f"isolation: the container (bubblewrap cannot start here: {reason})")
    else:
        print("isolation: bubblewrap sandbox")
    if not config["allow_sample"]:
        # A missing data set must be an error, never a grade on other data.
        os.environ[environment.NO_SAMPLE] = "1"
    data_dir = source / "data"  # absent when built with --allow-sample and no data
    limits = _limits()
    settings = Kerasgrade(sandbox=sandboxed, memory_mb=limits.memory_mb,
                          notebook_timeout=limits.wall_seconds,
                          data_dir=str(data_dir) if data_dir.is_dir() else "")
    # The student's code sees neither the autograder's files nor where results go.
    grader = Grader(settings, source, hide=private_paths(source, (source, results.parent)),
                    in_process=True)

    spec = grader.spec(aid)
    submission = args.autograder / "submission"
    path, problem = pick_notebook(submission, aid)
    if path is None:
        result = failed_result(spec, "", str(submission), f"{problem} (upload {aid}.ipynb)")
    else:
        result = grader.grade_here(path, spec)
    results_json.write(result, spec, results)
    print(f"{aid}: {result.score:g}/{result.max_score:g} {result.status}"
          f"{': ' + result.reason if result.reason else ''}")
    return 0


def _limits() -> Limits:
    """The sandbox's limits, its memory below the container's: were the container's own limit
    hit first, its OOM killer would end the grader too, and the student would get no score and
    no reason."""
    limits = Limits()
    container = container_memory_mb()
    if container is None:
        return limits
    memory = min(limits.memory_mb, container - GRADER_HEADROOM_MB)
    if memory < NEEDED_MB:
        print(f"warning: the container has {container} MB of memory; grading needs "
              f"{NEEDED_MB + GRADER_HEADROOM_MB} MB: raise it in Gradescope's autograder settings")
    return dataclasses.replace(limits, memory_mb=memory)


def container_memory_mb() -> int | None:
    """This container's memory limit (cgroup v2, else v1) in MB, or None when unlimited."""
    for path in CGROUP_MEMORY:
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**60:  # v1 writes "unlimited" as a huge number
            return int(text) // MIB
    return None


if __name__ == "__main__":
    sys.exit(main())
