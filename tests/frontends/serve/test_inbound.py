"""Reading the exchange's inbound folder (fast): a course not released yet is waited for."""

from __future__ import annotations

from pathlib import Path

from kerasgrade.frontends.serve import config
from kerasgrade.frontends.serve.exchange import TIMESTAMP, Exchange


def test_an_unreleased_course_is_waited_for_then_its_submissions_read(tmp_path: Path) -> None:
    exchange = tmp_path / "exchange"
    course = tmp_path / "course"
    course.mkdir()
    (course / "nbgrader_config.py").write_text(
        "c = get_config()  # noqa: F821\nc.CourseDirectory.course_id = 'kerasgrade'\n"
        f"c.Exchange.root = {str(exchange)!r}\n")
    reader = Exchange(config.load(course))
    assert reader.problem() == ""
    assert "inbound folder" in reader.waiting() and "release_assignment" in reader.waiting()
    assert list(reader.scan(set())) == []  # nothing to read, nothing raised

    inbound = exchange / "kerasgrade" / "inbound"
    done = inbound / "alice+02-connected-networks+2026-12-04 15:00:00.000000 UTC+abc"
    half = inbound / "bob+02-connected-networks+2026-12-04 15:00:01.000000 UTC+def"
    for folder in (done, half):
        folder.mkdir(parents=True)
    (done / TIMESTAMP).write_text("2026-12-04 15:00:00.000000 UTC")  # nbgrader writes it last
    assert reader.waiting() == ""
    found = list(reader.scan(set()))
    assert [(s.student, s.assignment) for s in found] == [("alice", "02-connected-networks")]
    assert list(reader.scan({done.name})) == []
