"""The grader batch and serve share, on its own (fast: nothing is run): what needs no run is
told apart from what the workers must grade, and results are complete when made."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from kerasgrade.course.layout import RELEASE, Submission, course_root
from kerasgrade.frontends.grader import Failed, Graded, Grader, Request
from kerasgrade.report.store import result_state, state_path
from kerasgrade.results import SubmissionResult
from kerasgrade.settings import Kerasgrade

AID = "02-connected-networks"


@pytest.fixture
def grader(tmp_path: Path) -> Grader:
    release = tmp_path / RELEASE / AID
    release.mkdir(parents=True)
    shutil.copy(course_root() / RELEASE / AID / f"{AID}.ipynb", release)
    return Grader(Kerasgrade(sandbox=False, workers=1), tmp_path)


def handed(grader: Grader, student: str, notebook: bytes | None, reuse: bool = True) -> Request:
    folder = grader.root / "submitted" / student / AID
    folder.mkdir(parents=True, exist_ok=True)
    path = None
    if notebook is not None:
        path = folder / f"{AID}.ipynb"
        path.write_bytes(notebook)
    return Request(AID, Submission(student, folder, path, "" if path else "no notebook here"),
                  notebook, reuse)


def store(grader: Grader, student: str, notebook: bytes, score_note: str) -> None:
    """A stored result as the Publisher leaves it, for this notebook and this grader."""
    result = SubmissionResult(AID, student, f"{AID}.ipynb", "graded", score_note)
    path = state_path(grader.root, AID, student)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result_state(grader.release(AID).version, result, notebook, {})))


def test_what_needs_no_run_is_told_apart(grader: Grader) -> None:
    store(grader, "kept", b"same", "stored")
    store(grader, "changed", b"before", "stored")
    store(grader, "forced", b"same", "stored")
    subs = [handed(grader, "empty", None), handed(grader, "kept", b"same"),
            handed(grader, "changed", b"after"), handed(grader, "new", b"fresh"),
            handed(grader, "forced", b"same", reuse=False)]
    ready, to_run = grader.sort(subs)
    assert [h.sub.student for h in to_run] == ["changed", "new", "forced"]
    outcomes = {h.sub.student: outcome for h, outcome in ready}
    assert set(outcomes) == {"empty", "kept"}
    empty, kept = outcomes["empty"], outcomes["kept"]
    assert isinstance(empty, Graded) and not empty.reused
    assert empty.result.status == "error" and empty.result.reason == "no notebook here"
    assert all(c.points == 0 for c in empty.result.checks) and empty.result.checks
    assert isinstance(kept, Graded) and kept.reused and kept.result.reason == "stored"


def test_a_broken_store_is_the_graders_failure_not_a_score(grader: Grader) -> None:
    path = state_path(grader.root, AID, "bad")
    path.parent.mkdir(parents=True)
    path.write_text('{"notebook_sha256": "x", "grader": "y"}')  # no result in it
    store(grader, "torn", b"nb", "stored")
    torn = path.with_name("torn.json")
    state = json.loads(torn.read_text())
    state["result"]["checks"] = 7  # a result that cannot be read back
    torn.write_text(json.dumps(state))
    ready, to_run = grader.sort([handed(grader, "bad", b"nb"), handed(grader, "torn", b"nb")])
    assert [h.sub.student for h in to_run] == ["bad"]  # not reusable: graded again
    (_, outcome), = ready
    assert isinstance(outcome, Failed) and not outcome.retrying and outcome.line


def test_a_result_is_complete_when_made() -> None:
    result = SubmissionResult(AID, "ann", "nb.ipynb", "graded")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.late_penalty = 2.0  # type: ignore[misc]
    later = dataclasses.replace(result, late_penalty=2.0, attempt=1, max_attempts=3)
    assert (result.late_penalty, later.late_penalty, later.attempt) == (0.0, 2.0, 1)
