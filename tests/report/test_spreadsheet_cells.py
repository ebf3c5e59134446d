"""A CSV the instructor opens in a spreadsheet holds names, ids and reasons that students and
the LMS wrote: a cell that would begin a formula is kept as text. The Canvas export runs on a
real nbgrader gradebook (SQLite); the class CSV through the publisher's row."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from kerasgrade.frontends.nbgrader.lms import CanvasExportPlugin
from kerasgrade.report.publish import _row
from kerasgrade.report.text import spreadsheet_cell
from kerasgrade.results import SubmissionResult


@pytest.mark.parametrize(("text", "cell"), [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"), ("+1", "'+1"), ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("ada", "ada"), ("Lovelace, Ada", "Lovelace, Ada"), ("", ""), ("a=b", "a=b")])
def test_a_cell_that_would_begin_a_formula_stays_text(text: str, cell: str) -> None:
    assert spreadsheet_cell(text) == cell


@pytest.mark.slow  # nbgrader makes a new gradebook's tables through alembic: seconds
def test_the_canvas_export_keeps_names_and_ids_as_text(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with Gradebook(db) as gb:
        gb.add_student("ada", first_name="Ada", last_name="Lovelace", lms_user_id="17")
        gb.add_student("@mal", first_name="=cmd|' /C calc'!A0", last_name="", lms_user_id="-1")
        out = tmp_path / "canvas.csv"
        CanvasExportPlugin(to=str(out)).export(gb)
    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert sorted(rows[2:]) == [["'=cmd|' /C calc'!A0", "'-1", "", "'@mal", ""],
                                ["Lovelace, Ada", "17", "", "ada", ""]]


def test_the_class_csv_keeps_ids_and_reasons_as_text() -> None:
    row = _row(SubmissionResult("02-connected-networks", "+mal", "02.ipynb", "error",
                                "=1+1 is not a model", []))
    assert (row["student"], row["reason"], row["score"]) == ("'+mal", "'=1+1 is not a model",
                                                            "0")
