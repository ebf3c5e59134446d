"""`kerasgrade check`, `report` and `demo` refuse an unknown assignment id at the door, in
their own words, before anything is read or graded. In process: no kernel, the fast tier."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kerasgrade.course.assignments import ASSIGNMENTS
from kerasgrade.frontends import cli

UNKNOWN = "09-no-such-assignment"
REFUSAL = f"unknown assignment {UNKNOWN!r}; known: {', '.join(ASSIGNMENTS)}"


@pytest.fixture(autouse=True)
def _path_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    """cli.main puts this interpreter's scripts first on PATH: undone after each test."""
    monkeypatch.setenv("PATH", os.environ.get("PATH", ""))


def test_check_gives_an_unknown_assignment_a_zero_with_the_known_ids(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "homework.ipynb"
    path.write_text("not even JSON")  # refused by its id: the file is never read
    assert cli.main(["check", str(path), "--assignment", UNKNOWN]) == 2
    said = capsys.readouterr()
    assert said.out == f"{UNKNOWN}: 0/0 (error: {REFUSAL})\n" and said.err == ""

    assert cli.main(["check", str(path), "--assignment", UNKNOWN, "--json"]) == 2
    result = json.loads(capsys.readouterr().out)
    assert (result["assignment"], result["notebook"], result["status"], result["reason"],
            result["score"], result["checks"]) == (UNKNOWN, str(path), "error", REFUSAL, 0, [])
    assert sorted(tmp_path.iterdir()) == [path]  # nothing written beside it


@pytest.mark.parametrize("argv", [["report", UNKNOWN, "--root", "COURSE"],
                                  ["demo", "COURSE", "--assignment", UNKNOWN]])
def test_report_and_demo_refuse_an_unknown_assignment_in_one_line(
        argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([str(tmp_path) if a == "COURSE" else a for a in argv]) == 2
    said = capsys.readouterr()
    assert said.out == "" and said.err == f"kerasgrade {argv[0]}: {REFUSAL}\n"
    assert list(tmp_path.iterdir()) == []
