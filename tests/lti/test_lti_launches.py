"""What the LMS's launches leave for the service: kerasgrade.lti.launches, the course's
.kerasgrade/lti/context.json."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kerasgrade.lti.launches import (
    AGS_CLAIM,
    CONTEXT_CLAIM,
    NRPS_CLAIM,
    OtherCourse,
    context_path,
    merged,
    never_launched,
    read_context,
    record_launch,
)

TOKEN = {"iss": "https://lms.example", "aud": "tool-1", "sub": "8f3a-22",
         "email": "Ada.Lovelace@Uni.example",
         CONTEXT_CLAIM: {"id": "course-7", "title": "Keras 101"},
         "https://purl.imsglobal.org/spec/lti/claim/deployment_id": "dep-1",
         "https://purl.imsglobal.org/spec/lti/claim/roles": [
             "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
         AGS_CLAIM: {"lineitems": "https://lms.example/c/7/lineitems",
                     "scope": ["https://purl.imsglobal.org/spec/lti-ags/scope/score"]},
         NRPS_CLAIM: {"context_memberships_url": "https://lms.example/c/7/members",
                      "service_versions": ["2.0"]}}
def test_each_launch_is_recorded_and_a_later_one_without_claims_keeps_them() -> None:
    now = datetime(2026, 1, 5, tzinfo=UTC)
    first = merged({}, TOKEN, "al123", now, "email_local")
    assert first[AGS_CLAIM] == TOKEN[AGS_CLAIM] and first[NRPS_CLAIM] == TOKEN[NRPS_CLAIM]
    assert first["launched"]["al123"]["sub"] == "8f3a-22"
    assert (first["issuer"], first["client_id"], first["deployment_id"]) == (
        "https://lms.example", "tool-1", "dep-1")
    bare = {k: v for k, v in TOKEN.items() if k not in (AGS_CLAIM, NRPS_CLAIM)}
    later = merged(first, bare, "al123", now + timedelta(days=1), "email_local")
    assert later[AGS_CLAIM] == TOKEN[AGS_CLAIM]
    launched = later["launched"]["al123"]
    assert launched["first"] == now.isoformat() and launched["last"] > launched["first"]
    with pytest.raises(OtherCourse, match="Keras 101"):
        merged(later, TOKEN | {CONTEXT_CLAIM: {"id": "course-8"}}, "al123", now,
               "email_local")


def test_the_record_is_private_to_the_course_owner_and_replaced_whole(tmp_path: Path) -> None:
    course = tmp_path / "course"
    course.mkdir()
    record_launch(course, TOKEN, "al123", "email_local")
    record_launch(course, TOKEN | {"sub": "99"}, "bob", "email_local")
    path = context_path(course)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.stat().st_uid == course.stat().st_uid
    assert os.listdir(path.parent) == ["context.json"]  # no temporary file left
    assert set(read_context(course)["launched"]) == {"al123", "bob"}
    assert json.loads(path.read_text())["launched"]["bob"]["sub"] == "99"


def test_a_link_in_place_of_the_folder_is_not_followed(tmp_path: Path) -> None:
    course, elsewhere = tmp_path / "course", tmp_path / "elsewhere"
    (course / ".kerasgrade").mkdir(parents=True)
    elsewhere.mkdir()
    (course / ".kerasgrade" / "lti").symlink_to(elsewhere)
    with pytest.raises(OSError):
        record_launch(course, TOKEN, "al123", "email_local")
    assert not list(elsewhere.iterdir())


def test_the_rule_is_recorded_and_names_by_another_rule_are_dropped() -> None:
    now = datetime(2026, 1, 5, tzinfo=UTC)
    first = merged({}, TOKEN, "ada.lovelace", now, "email_local")
    assert first["user_id"] == "email_local"
    # The hub's rule changed: the earlier name is no student id now.
    later = merged(first, TOKEN | {"sub": "99"}, "99", now, "sub")
    assert later["user_id"] == "sub" and set(later["launched"]) == {"99"}


def test_who_never_launched_is_known_once_launches_are_recorded(tmp_path: Path) -> None:
    course = tmp_path / "course"
    course.mkdir()
    assert not never_launched(course, "8f3a-22")  # no record: launches go elsewhere
    record_launch(course, TOKEN, "al123", "email_local")
    assert not never_launched(course, "8f3a-22")
    assert never_launched(course, "77-never")
