"""An endless loop before model.fit is stopped at the time limit, and every front end tells the
student so: which cell, the limit, the reference solution's own time and what usually causes
it, in the checks it made fail, with none of their usual advice ("pass it on: model.fit",
"training failed: KeyboardInterrupt"). Real kernels, real nbgrader.

KERASGRADE_CELL_TIMEOUT gives every front end a short cell limit (tests/time_limit_case.py).
The kerasgrade runner exempts its own setup cell from it; nbgrader's Execute does not, and
the notebook's first cell imports TensorFlow there, so nbgrader gets a longer one. The serve
path is tests/frontends/serve/test_serve.py's.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from browser import Page
from classroom import grade
from nbfactory import write
from nbgrader_course import autograde, expected_points, make_course, nbgrader
from time_limit_case import AID, FAILED, LIMIT, LOOPING, NBGRADER_LIMIT, env, named

from kerasgrade.course import assignments

pytestmark = pytest.mark.slow  # kernels that run into the limit, nbgrader

ROOT = Path(__file__).resolve().parents[2]


def failed_outputs(results_json: Path) -> dict[str, str]:
    """Gradescope's results.json: the output of each test that earned nothing, by check."""
    titles = {c.title: c.name for c in assignments.get(AID).checks}
    tests = json.loads(results_json.read_text())["tests"]
    return {titles[t["name"]]: t["output"] for t in tests if t["score"] == 0}


def test_pytest_autograder(tmp_path: Path) -> None:
    nb = write(LOOPING, tmp_path / "loop" / f"{AID}.ipynb")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "autograder"), "--submission", str(nb),
         "--assignment", AID, "--student", "loop", "--results-json",
         str(tmp_path / "results.json"), "--feedback", str(tmp_path / "pages"), "-q", "-p",
         "no:cacheprovider"],
        capture_output=True, text=True, cwd=ROOT, env=env(LIMIT), timeout=900)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "2 failed, 5 passed" in proc.stdout, proc.stdout[-3000:]
    named(proc.stdout, LIMIT)
    outputs = failed_outputs(tmp_path / "results.json")
    assert set(outputs) == FAILED
    for output in outputs.values():
        named(output, LIMIT)
    page = Page((tmp_path / "pages" / "loop" / f"{AID}.html").read_text())
    assert "Stopped at the time limit" in page.text
    named(page.text, LIMIT)


def test_kerasgrade_grade_and_the_feedback_serve_publishes(tmp_path: Path) -> None:
    """The batch's page and results.json, and nbgrader's generate_feedback on the notebook it
    leaves in autograded/: what `kerasgrade serve` releases."""
    course = make_course(tmp_path, AID, {"loop": LOOPING})
    nbgrader(course, "generate_assignment", AID)
    proc = grade(course, "--workers", "1", env=env(LIMIT))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with (course / "kerasgrade-grades.csv").open() as f:
        row = next(csv.DictReader(f))
    assert float(row["score"]) == 14 - sum(expected_points(AID)[c] for c in FAILED), row
    reports = course / "reports" / "loop" / AID
    outputs = failed_outputs(reports / "results.json")
    assert set(outputs) == FAILED
    for output in outputs.values():
        named(output, LIMIT)
    named(Page((reports / "feedback.html").read_text()).text, LIMIT)
    nbgrader(course, "generate_feedback", AID)
    released = Page((course / "feedback" / "loop" / AID / f"{AID}.html").read_text()).text
    assert "Stopped at the time limit" in released  # kerasgrade's report on top
    named(released, LIMIT)


def test_nbgrader_autograde_and_its_feedback(tmp_path: Path) -> None:
    scores = autograde(tmp_path, AID, {"loop": LOOPING}, env=env(NBGRADER_LIMIT))
    assert scores["loop"] == expected_points(AID) | dict.fromkeys(FAILED, 0.0)
    course = tmp_path / "course"
    graded = json.loads((course / "autograded" / "loop" / AID / f"{AID}.ipynb").read_text())
    cells = {c["metadata"]["nbgrader"]["grade_id"]: c for c in graded["cells"]
             if c["metadata"].get("nbgrader", {}).get("grade")}
    for name in FAILED:  # the hidden cell's own output, as nbgrader keeps and shows it
        (error,) = [o for o in cells[name]["outputs"] if o["output_type"] == "error"]
        assert error["ename"] == "CheckFailed"
        named(error["evalue"], NBGRADER_LIMIT)
    nbgrader(course, "generate_feedback", AID)
    page = Page((course / "feedback" / "loop" / AID / f"{AID}.html").read_text()).text
    assert "Stopped at the time limit" in page
    named(page, NBGRADER_LIMIT)
