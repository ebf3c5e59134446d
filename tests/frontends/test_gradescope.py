"""The Gradescope autograder, run as Gradescope runs it: the zip built by `kerasgrade
gradescope`, unzipped into /autograder/source, setup.sh run once as root, run_autograder copied
to /autograder/ and run on real submissions (real training on the MNIST sample), results.json
read back.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbfactory import variant, write

import kerasgrade
from kerasgrade.course.assignments import ASSIGNMENTS, CONNECTED_NETWORKS
from kerasgrade.course.demo import MISTAKES, answered

ROOT = Path(__file__).resolve().parents[2]
AUTOGRADER = Path("/autograder")
# Left in /autograder by this test alone: a folder without it is not ours to delete.
MARK = AUTOGRADER / ".kerasgrade-test"
AID = CONNECTED_NETWORKS
SPEC = ASSIGNMENTS[AID]

# Builds and installs the autograder, grades submissions that train.
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(os.geteuid() != 0, reason="Gradescope's layout needs root")]


def _env(**extra: str) -> dict[str, str]:
    """Gradescope's environment: nothing of this checkout on the Python path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KERASGRADE_DATA_DIR")}
    return env | extra


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kerasgrade", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def autograder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, float]]:
    if AUTOGRADER.exists() and not MARK.exists():
        pytest.skip(f"{AUTOGRADER} exists and was not made by this test")
    shutil.rmtree(AUTOGRADER, ignore_errors=True)
    tmp = tmp_path_factory.mktemp("gradescope")
    empty = tmp / "no-data"
    empty.mkdir()
    # Without the full data set the build refuses, unless the sample is allowed explicitly.
    refused = _cli("gradescope", AID, "--root", str(ROOT), "-o", str(tmp / "x.zip"),
                   "--data", str(empty), cwd=tmp)
    assert refused.returncode == 2 and "kerasgrade data fetch" in refused.stderr
    unknown = _cli("gradescope", "04-x", "--root", str(ROOT), "-o", str(tmp / "x.zip"), cwd=tmp)
    assert unknown.returncode == 2 and "unknown assignment '04-x'" in unknown.stderr
    assert not (tmp / "x.zip").exists()

    zip_path = tmp / "autograder.zip"
    built = _cli("gradescope", AID, "--root", str(ROOT), "-o", str(zip_path), "--data",
                 str(empty), "--allow-sample", cwd=tmp)
    assert built.returncode == 0, built.stderr
    with zipfile.ZipFile(zip_path) as zf:
        names = set(zf.namelist())
        config = json.loads(zf.read("kerasgrade-gradescope.json"))
    assert {"setup.sh", "run_autograder", f"assignments/{AID}/{AID}.ipynb"} <= names
    assert any(n.startswith("kerasgrade-") and n.endswith(".whl") for n in names)
    assert not any(n.startswith(("solutions/", "source/", "autograder/")) for n in names)
    assert config == {"assignment": AID, "allow_sample": True, "kerasgrade": kerasgrade.__version__,
                      "data_source": "mnist-sample-5k"}

    (AUTOGRADER / "source").mkdir(parents=True)
    MARK.touch()
    try:
        with zipfile.ZipFile(zip_path) as zf:  # as unzip does: with the files' modes
            for info in zf.infolist():
                os.chmod(zf.extract(info, AUTOGRADER / "source"), info.external_attr >> 16)
        timings = {}
        for run in ("first", "again"):  # a second run keeps what is there
            started = time.monotonic()
            setup = subprocess.run(["bash", "setup.sh"], cwd=AUTOGRADER / "source", env=_env(),
                                   capture_output=True, text=True, timeout=1800)
            assert setup.returncode == 0, setup.stderr[-3000:]
            timings[run] = time.monotonic() - started
        print(f"setup.sh: {timings}")
        shutil.copy(AUTOGRADER / "source" / "run_autograder", AUTOGRADER / "run_autograder")
        yield timings
    finally:
        shutil.rmtree(AUTOGRADER, ignore_errors=True)


def _submit(files: dict[str, nbformat.NotebookNode | None]) -> dict[str, bytes]:
    """A fresh submission and results folder, as each Gradescope container starts with."""
    for folder in ("submission", "results"):
        shutil.rmtree(AUTOGRADER / folder, ignore_errors=True)
        (AUTOGRADER / folder).mkdir()
    written = {}
    for name, nb in files.items():
        path = write(nb, AUTOGRADER / "submission" / name)
        written[name] = path.read_bytes()
    return written


def _run(env: dict[str, str] | None = None,
         argv: tuple[str, ...] = (str(AUTOGRADER / "run_autograder"),)
         ) -> tuple[subprocess.CompletedProcess[str], dict | None]:
    proc = subprocess.run(list(argv), cwd=AUTOGRADER, env=env or _env(), capture_output=True,
                          text=True, timeout=900)
    results = AUTOGRADER / "results" / "results.json"
    return proc, json.loads(results.read_text()) if results.exists() else None


def _tests(results: dict) -> dict[str, dict]:
    titles = {c.title: c.name for c in SPEC.checks}
    return {titles[t["name"]]: t for t in results["tests"]}


def test_setup_installs_this_kerasgrade_in_a_venv(autograder: dict[str, float]) -> None:
    venv_python = AUTOGRADER / "venv" / "bin" / "python"
    where = subprocess.run([str(venv_python), "-c", "import kerasgrade; print(kerasgrade.__file__)"
                            ], env=_env(), capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(AUTOGRADER / "venv")), where
    # Present packages are kept: a second run installs nothing and takes seconds.
    assert autograder["again"] < 120, autograder


def test_reference_solution_full_marks_visibility_and_leaderboard(autograder: dict) -> None:
    sent = _submit({f"{AID}.ipynb": nbformat.read(ROOT / "solutions" / AID / f"{AID}.ipynb", 4)})
    proc, results = _run()
    assert proc.returncode == 0 and results, proc.stderr[-3000:]
    assert "isolation: bubblewrap sandbox" in proc.stdout
    assert results["score"] == results["max_score"] == SPEC.max_score
    tests = _tests(results)
    assert {name: t["visibility"] for name, t in tests.items()} == {
        c.name: c.visibility for c in SPEC.checks}
    assert tests["test_accuracy"]["visibility"] == "after_due_date"
    [board] = results["leaderboard"]
    assert board["name"] == "Test accuracy" and board["order"] == "desc"
    assert 0.85 <= board["value"] <= 1 and f"{board['value']:.3f}" in tests["test_accuracy"][
        "output"]
    assert "mnist-sample-5k" in results["output"]
    assert (AUTOGRADER / "submission" / f"{AID}.ipynb").read_bytes() == sent[f"{AID}.ipynb"]


def test_notebook_written_outside_the_course(autograder: dict) -> None:
    """A student's own notebook under another name, with the course's variable names."""
    _submit({"my_homework.ipynb": variant()})
    proc, results = _run()
    assert results, proc.stderr[-3000:]
    assert results["score"] == SPEC.max_score, json.dumps(results, indent=1)[:3000]
    assert results["leaderboard"][0]["value"] >= 0.85


def test_container_isolation_only_when_asked(autograder: dict, tmp_path: Path) -> None:
    """Where bubblewrap cannot start, grading fails closed unless run_autograder's flag says
    the container is the isolation; then the typical mistake still gets its score."""
    bin_dir = tmp_path / "bin"  # a PATH without bwrap: the sandbox cannot start
    bin_dir.mkdir()
    for tool in ("bash", "prlimit", "setpriv"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    no_bwrap = _env(PATH=str(bin_dir))
    mistake = answered(ROOT, AID, MISTAKES[AID]["no-softmax"])
    _submit({f"{AID}.ipynb": mistake})
    proc, results = _run(no_bwrap, (str(AUTOGRADER / "venv/bin/python"), "-m",
                                    "kerasgrade.frontends.gradescope"))
    assert proc.returncode == 2 and results is None
    assert "bwrap not found" in proc.stderr

    proc, results = _run(no_bwrap)
    assert results, proc.stderr[-3000:]
    assert "isolation: the container (bubblewrap cannot start here" in proc.stdout
    tests = _tests(results)
    assert results["score"] == SPEC.max_score - 2 - 3
    assert not tests["activations"]["score"] and not tests["test_accuracy"]["score"]
    assert "softmax" in tests["activations"]["output"]


def test_no_notebook_submitted(autograder: dict) -> None:
    _submit({})
    (AUTOGRADER / "submission" / "answers.txt").write_text("I did it in Word")
    proc, results = _run()
    assert results, proc.stderr[-3000:]
    assert results["score"] == 0 and results["max_score"] == SPEC.max_score
    assert f"no notebook was submitted (upload {AID}.ipynb)" in results["output"]
    assert "leaderboard" not in results
