"""TimedOutCells, right after nbgrader's Execute: the hidden cells that failed after a student's
cell was stopped at nbgrader's cell limit say so, and their scores stay (nbgrader's outputs,
as Execute and the hidden cells leave them; the real run is in test_time_limit_named.py)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from traitlets.config import Config

from kerasgrade.artifacts import FACTS_MIME, facts_bundle
from kerasgrade.checks import run_one
from kerasgrade.course.assignments import CONNECTED_NETWORKS as AID
from kerasgrade.course.assignments import get
from kerasgrade.nbgrader_plugins import KerasgradeReport, TimedOutCells
from kerasgrade.report.publish import verdict_output

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "facts" / AID / "solution.json"
LIMIT = 45
SPEC = get(AID)
STOPPED = "while True:\n    pass\nhistory = model.fit(train_images, train_labels, epochs=epochs)"


def kernel_facts() -> dict:
    """What the hidden cells measure in the kernel after the fit was stopped: an untrained
    model, and no word of the stopped cell (the kernel cannot know it)."""
    facts = json.loads(FIXTURE.read_text())["facts"]
    facts["export"]["history"] = None
    facts["export"]["variables"] |= {"test_acc": 0.096, "test_loss": 2.41}
    facts["evaluation"]["test_accuracy"] = 0.096
    facts["execution"] = {}
    return facts


def hidden(check: str, outputs: list) -> nbformat.NotebookNode:
    return new_code_cell(f'run_check("{AID}", "{check}", globals())', outputs=outputs,
                         metadata={"nbgrader": {"grade": True, "solution": False,
                                                "grade_id": check, "points": 1}})


def autograded(timed_out: bool = True) -> nbformat.NotebookNode:
    """A notebook as nbgrader's Execute leaves it: the interrupt, then its own timeout error."""
    facts = kernel_facts()
    errors = [new_output("error", ename="KeyboardInterrupt", evalue="", traceback=[]),
              new_output("error", ename="CellTimeoutError", evalue="", traceback=[])]
    return new_notebook(cells=[
        new_markdown_cell("# 02"),
        new_code_cell(STOPPED, outputs=errors if timed_out else errors[:1]),
        hidden("epochs", [new_output("display_data", data=facts_bundle(AID, facts)),
                          verdict_output(run_one(SPEC, "epochs", facts))]),
        hidden("architecture", [verdict_output(run_one(SPEC, "architecture", facts))]),
        hidden("test_accuracy", [verdict_output(run_one(SPEC, "test_accuracy", facts))]),
    ])


def step(config: Config | None = None) -> TimedOutCells:
    if config is None:
        config = Config()
        config.Execute.timeout = LIMIT  # as nbgrader_config.py sets it
    return TimedOutCells(config=config)


def test_the_failed_checks_name_the_stopped_cell_and_keep_their_scores() -> None:
    nb = autograded()
    assert "pass it on: model.fit(" in nb.cells[2].outputs[1].evalue  # what the kernel said
    before = copy.deepcopy(nb)
    out, _ = step()(nb, {})
    for index in (2, 4):
        verdict = out.cells[index].outputs[-1]
        assert verdict.ename == "CheckFailed"  # still failed: nbgrader scores it 0
        assert (f"Cell 2 (`while True:`) ran longer than {LIMIT} s and was stopped: {LIMIT} s "
                "is the time limit per cell, and the reference solution's slowest cell takes "
                in verdict.evalue)
        assert "a loop that never ends" in verdict.evalue
        assert verdict.traceback == verdict.evalue.splitlines()
        for advice in ("pass it on", "KeyboardInterrupt", "never trained"):
            assert advice not in verdict.evalue
    assert out.cells[3] == before.cells[3]  # a check that passed is left as it was
    assert out.cells[1] == before.cells[1]
    facts = json.loads(out.cells[2].outputs[0].data[FACTS_MIME]["facts"])
    assert facts["execution"]["timed_out"] == [
        {"cell": 2, "first_line": "while True:", "limit_seconds": LIMIT}]
    assert facts["execution"]["reference"]["seconds"] > 0


def test_generate_feedback_reports_the_stopped_cell() -> None:
    nb, _ = step()(autograded(), {})
    report, _ = KerasgradeReport()(nb, {})
    html = report.cells[0].outputs[0].data["text/html"]
    assert "Stopped at the time limit" in html
    assert f"Cell 2 (`while True:`) ran longer than {LIMIT} s and was stopped" in html


def test_a_notebook_without_a_stopped_cell_is_left_alone() -> None:
    nb = autograded(timed_out=False)
    before = copy.deepcopy(nb)
    assert step()(nb, {})[0] == before


def test_the_limit_is_nbgraders_own_when_the_course_sets_none() -> None:
    out, _ = step(Config())(autograded(), {})
    assert "ran longer than 30 s" in out.cells[2].outputs[-1].evalue  # Execute's default
