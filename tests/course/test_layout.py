"""Which folders of submitted/ are a class's submissions: a folder name that no gradebook,
page or CSV can hold (undecodable bytes, control characters) is left out with what to do,
and the others are found as before. Fast: folders only."""

from __future__ import annotations

import os
from pathlib import Path

from kerasgrade.course.layout import SUBMITTED, discover

AID = "02-connected-networks"


def test_names_that_are_no_student_id_are_left_out_with_what_to_do(tmp_path: Path) -> None:
    submitted = tmp_path / SUBMITTED
    for name in (b"ada", b"bad\xff\xfename", b"esc\x1b[31m", "zoë".encode()):
        folder = os.path.join(os.fsencode(submitted), name, AID.encode())
        os.makedirs(folder)
        Path(os.fsdecode(folder), f"{AID}.ipynb").write_text("{}")
    (submitted / "no-02" / "01-preparing-data").mkdir(parents=True)  # not this assignment

    found, left_out = discover(tmp_path, AID)

    assert [s.student for s in found] == ["ada", "zoë"]
    assert all(s.path == s.folder / f"{AID}.ipynb" and s.problem == "" for s in found)
    assert left_out == [
        f"{SUBMITTED}/{shown} is left out: its name is not a student id (not UTF-8 text, or "
        "control characters); rename the folder to the student's id"
        for shown in ("bad\\udcff\\udcfename", "esc\\x1b[31m")]
