"""The runner's report is read as untrusted data: its stopped cells, which the checks word for
the student, only in the shape the runner writes them; any other shape drops the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kerasgrade.artifacts import RUN_REPORT
from kerasgrade.execute.driver import _run_report

STOPPED = {"cell": 3, "first_line": "while True:", "limit_seconds": 60.0}


def report(tmp_path: Path, timed_out: object) -> dict:
    path = tmp_path / RUN_REPORT
    path.write_text(json.dumps({"status": "ok", "reason": "", "errors": [],
                                "timed_out": timed_out}))
    return _run_report(path)


def test_the_runners_stopped_cells_are_read(tmp_path: Path) -> None:
    assert report(tmp_path, [STOPPED])["timed_out"] == [STOPPED]


@pytest.mark.parametrize("timed_out", [
    {"cell": 3}, ["cell 3"], [STOPPED | {"cell": "3"}], [STOPPED | {"cell": True}],
    [STOPPED | {"first_line": None}], [STOPPED | {"limit_seconds": "60"}],
    [{"cell": 3, "first_line": "while True:"}],
], ids=["not-a-list", "a-string", "cell-text", "cell-bool", "no-line", "limit-text",
        "no-limit"])
def test_any_other_shape_drops_the_report(tmp_path: Path, timed_out: object) -> None:
    assert report(tmp_path, timed_out) == {}
