"""A stored grade is stale exactly when code that grades changed: the grader version."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import kerasgrade
from kerasgrade.frontends.batch import plan

PACKAGE = Path(kerasgrade.__file__).resolve().parent


def test_grading_files_are_what_grading_imports() -> None:
    files = {str(p.relative_to(PACKAGE)) for p in plan.grading_files()}
    for grading in ("grade.py", "sanitize.py", "artifacts.py", "course/assignments.py",
                    "checks/common.py", "checks/fashion_classifier.py", "measure/process.py",
                    "measure/modelfile.py", "execute/kernel/notebook_run.py", "sandbox/bwrap.py",
                    "data/load.py", "course/time_limits.json", "course/assignments.toml"):
        assert grading in files, grading
    for not_grading in ("frontends/cli.py", "frontends/batch/run.py", "report/feedback.py",
                        "report/gradebook.py", "steps/framework.py", "course/demo.py"):
        assert not_grading not in files, not_grading


def _version(src: Path) -> str:
    code = "from kerasgrade.frontends.batch import plan; print(plan.grader_version(b'release'))"
    return subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": str(src)},
                          capture_output=True, text=True, check=True).stdout.strip()


def test_editing_a_check_makes_grades_stale_editing_a_page_does_not(tmp_path: Path) -> None:
    copy = tmp_path / "kerasgrade"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = _version(tmp_path)
    with (copy / "report" / "feedback.py").open("a") as f:
        f.write("\n# a new sentence on the page\n")
    assert _version(tmp_path) == before
    with (copy / "checks" / "common.py").open("a") as f:
        f.write("\n# a changed rule\n")
    assert _version(tmp_path) != before
