"""The outbox on its own (real SQLite, no LMS): one row per grade, the latest grade wins, a
student without an LMS id or who never launched refused at once, one sender per row, and all
of it on disk."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from kerasgrade.lti.launches import record_launch
from kerasgrade.lti.outbox import REFUSED, REPLACED, SENT, WAITING, Outbox, Score

GRADE = Score(student="ada", assignment="02-connected-networks", user="u-1", given=11.0,
              maximum=14.0, pending_manual=False, comment="kerasgrade: 11/14.",
              timestamp="2026-12-07T05:00:00.000+00:00", label="Connected networks")


def test_the_same_grade_twice_is_one_row_and_a_newer_one_replaces_a_waiting_one(
        tmp_path: Path) -> None:
    box = Outbox(tmp_path)
    assert box.add(GRADE, 1.0) == "added"
    later = dataclasses.replace(GRADE, timestamp="2026-12-07T06:00:00.000+00:00")
    assert box.add(later, 2.0) == "duplicate"  # the same grade, given again
    regrade = dataclasses.replace(GRADE, given=14.0)
    assert box.add(regrade, 3.0) == "added"
    assert (box.count(WAITING), box.count(REPLACED)) == (1, 1)
    [row] = box.due(10.0)
    assert row.score == regrade
    box.sent(row, 11.0)
    # Back to the first grade after the regrade was sent: news to the LMS.
    assert box.add(GRADE, 12.0) == "added"
    box.close()


def test_a_student_without_an_lms_id_is_refused_at_once_with_what_to_do(tmp_path: Path) -> None:
    box = Outbox(tmp_path)
    assert box.add(dataclasses.replace(GRADE, user=""), 1.0) == REFUSED
    assert box.due(10.0) == []
    [row] = box.listing()
    assert "kerasgrade lti roster" in row.reason
    box.close()


def test_a_user_the_launch_record_lacks_is_refused_at_once(tmp_path: Path) -> None:
    record_launch(tmp_path, {"iss": "https://lms.example", "aud": "tool", "sub": "u-1"}, "ada",
                  "email_local")
    box = Outbox(tmp_path)
    assert box.add(dataclasses.replace(GRADE, student="alan", user="u-2"), 1.0) == REFUSED
    assert box.reason("alan", GRADE.assignment).startswith(
        "alan never launched the tool from the LMS")
    assert box.add(GRADE, 1.0) == "added"  # u-1 launched
    assert [row.score.student for row in box.due(10.0)] == ["ada"]
    box.close()


def test_one_sender_per_row_and_the_rows_survive_a_restart(tmp_path: Path) -> None:
    service, command = Outbox(tmp_path), Outbox(tmp_path)  # two senders, one outbox
    service.add(GRADE, 1.0)
    [seen_by_service] = service.due(5.0)
    [seen_by_command] = command.due(5.0)
    assert service.claim(seen_by_service, 60.0)
    assert not command.claim(seen_by_command, 60.0)
    assert command.due(5.0) == [] and command.next_due() == 60.0
    service.close()
    command.close()
    again = Outbox(tmp_path)  # a restart: the row waits where it was
    [row] = again.due(61.0)
    again.sent(row, 62.0)
    assert (again.count(SENT), again.count(WAITING)) == (1, 0)
    again.close()
