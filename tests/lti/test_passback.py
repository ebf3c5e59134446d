"""Grades reach the LMS: a real LTI 1.3 platform (lti_platform.py) on loopback, the course's
gradebook filled as the grader fills it, and kerasgrade's outbox, passback thread and
commands between them. Faults are the platform's own: down, 500, tokens refused."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import ADA, ALAN, GRACE
from lti_course import REPO, enrol, grade, grade_by_hand, write_context
from lti_platform import CLIENT_ID, ISSUER, Platform, public_pem
from nbgrader.api import Gradebook

from kerasgrade import settings
from kerasgrade.frontends import assignment, cli
from kerasgrade.lti.launches import record_launch
from kerasgrade.lti.outbox import REFUSED, SENT, WAITING, Outbox
from kerasgrade.lti.passback import Passback
from kerasgrade.lti.settings import LtiProblem
from kerasgrade.report.gradebook import course_settings

pytestmark = pytest.mark.slow  # each test starts the platform's server

A02, A04 = "02-connected-networks", "04-improving-your-network"
SPEC02 = assignment(A02)


def wait_for(what: Callable[[], object], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not what():
        assert time.monotonic() < deadline, f"not within {seconds} s"
        time.sleep(0.05)


@pytest.fixture
def passback(course: Path) -> Iterator[Callable[[], Passback]]:
    """The service's Passback for the course (several: a restart), closed at the end."""
    made: list[Passback] = []

    def start() -> Passback:
        ours, app = settings.load(course)
        made.append(Passback(course, app, course_settings(course, None, app.config)))
        return made[-1]

    yield start
    for one in made:
        one.close()


def two_graded(course: Path, alan_lost: dict[str, float] | None = None) -> None:
    """Both learners on the roster, each with a graded 02."""
    enrol(course, ADA, ALAN)
    grade(course, A02, "ada")
    grade(course, A02, "alan", lost=alan_lost)


def states(course: Path) -> dict[str, int]:
    box = Outbox(course)
    try:
        return {s: box.count(s) for s in (WAITING, SENT, REFUSED)}
    finally:
        box.close()


def lti(course: Path, *argv: str) -> int:
    return cli.main(["lti", "--root", str(course), *argv])


def test_roster_brings_the_two_learners_not_the_instructor(
        course: Path, lms: Platform, capsys: pytest.CaptureFixture[str]) -> None:
    # Pages of one member: the next page comes from the Link header.
    claims = lms.claims()
    nrps = claims["https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"]
    nrps["context_memberships_url"] += "?limit=1"
    (course / ".kerasgrade" / "lti" / "context.json").write_text(json.dumps(claims))
    assert lti(course, "roster") == 0
    with Gradebook(course_settings(course).db_url, "kerasgrade") as gb:
        students = {s.id: (s.first_name, s.last_name, s.email, s.lms_user_id)
                    for s in gb.students}
    assert students == {"ada": ("Ada", "Lovelace", "ada@example.edu", ADA.sub),
                        "alan": ("Alan", "Turing", "alan@example.edu", ALAN.sub)}
    out = capsys.readouterr().out
    assert "not a student, not added: grace (Instructor)" in out


def test_the_service_reads_the_roster_when_it_starts(
        course: Path, lms: Platform, passback: Callable[[], Passback]) -> None:
    with (course / "nbgrader_config.py").open("a") as config:
        config.write("c.KerasgradeLti.roster_minutes = 60.0\n")

    def students() -> set[str]:
        with Gradebook(course_settings(course).db_url, "kerasgrade") as gb:
            return {s.id for s in gb.students}

    assert students() == set()  # the service's start has made the gradebook
    passback()

    wait_for(lambda: students() == {"ada", "alan"})


def test_a_released_grade_reaches_the_lms_once_fully_graded(
        course: Path, lms: Platform, passback: Callable[[], Passback]) -> None:
    enrol(course, ADA)
    grade(course, A02, "ada", lost={"test_accuracy": 3.0})
    service = passback()
    start = time.monotonic()
    service.released("ada", SPEC02)
    wait_for(lambda: lms.gradebook.result(A02, ADA.sub))
    assert time.monotonic() - start < 5.0
    wait_for(lambda: states(course)[SENT] == 1)
    held = lms.gradebook.result(A02, ADA.sub)
    assert (held["scoreGiven"], held["scoreMaximum"]) == (11.0, 14.0)
    assert (held["activityProgress"], held["gradingProgress"]) == ("Completed", "FullyGraded")
    assert "11/14" in held["comment"] and "Feedback:" in held["comment"]
    [item] = lms.gradebook.line_items.values()
    assert (item["resourceId"], item["tag"], item["scoreMaximum"]) == (A02, "kerasgrade", 14.0)
    # The same grade again, from the service and from `lti sync`: one score, one line item.
    service.released("ada", SPEC02)
    assert lti(course, "sync", A02) == 0
    time.sleep(0.5)
    assert len(lms.gradebook.scores_of(ADA.sub)) == 1
    assert len(lms.gradebook.line_items) == 1
    # A regrade, then back to the first grade: each is news to the LMS.
    grade(course, A02, "ada")
    service.released("ada", SPEC02)
    wait_for(lambda: len(lms.gradebook.scores_of(ADA.sub)) == 2)
    grade(course, A02, "ada", lost={"test_accuracy": 3.0})
    service.released("ada", SPEC02)
    wait_for(lambda: len(lms.gradebook.scores_of(ADA.sub)) == 3)
    assert lms.gradebook.result(A02, ADA.sub)["scoreGiven"] == 11.0


def test_late_penalty_is_taken_off_the_score(course: Path, lms: Platform) -> None:
    enrol(course, ADA, ALAN)
    grade(course, A02, "ada")
    grade(course, A02, "alan", late=True)  # penalty_method "zero": all points off
    assert lti(course, "sync", A02) == 0
    assert lms.gradebook.result(A02, ADA.sub)["scoreGiven"] == 14.0
    held = lms.gradebook.result(A02, ALAN.sub)
    assert held["scoreGiven"] == 0.0 and "Late penalty: 14 points" in held["comment"]


def test_written_answers_pend_until_graded_by_hand_then_sync_completes(
        course: Path, lms: Platform) -> None:
    enrol(course, ADA)
    grade(course, A04, "ada")
    assert lti(course, "sync", A04) == 0
    pending = lms.gradebook.result(A04, ADA.sub)
    assert (pending["gradingProgress"], pending["scoreGiven"], pending["scoreMaximum"]) == (
        "PendingManual", 12.0, 17.0)
    grade_by_hand(course, A04, "ada")
    assert lti(course, "sync", A04) == 0
    done = lms.gradebook.result(A04, ADA.sub)
    assert (done["gradingProgress"], done["scoreGiven"]) == ("FullyGraded", 17.0)
    assert done["timestamp"] > pending["timestamp"]
    assert len(lms.gradebook.scores_of(ADA.sub)) == 2 and len(lms.gradebook.line_items) == 1


def test_platform_down_then_up_every_grade_arrives_once(
        course: Path, lms: Platform, passback: Callable[[], Passback],
        capsys: pytest.CaptureFixture[str]) -> None:
    two_graded(course, {"epochs": 1.0})
    lms.down()
    service = passback()
    service.released("ada", SPEC02)
    service.released("alan", SPEC02)
    box = Outbox(course)
    try:
        wait_for(lambda: any(r.tries >= 2 for r in box.listing()))
    finally:
        box.close()
    assert lti(course, "outbox") == 0
    assert "waits, try" in capsys.readouterr().out
    lms.up()
    wait_for(lambda: states(course)[SENT] == 2)
    assert [len(lms.gradebook.scores_of(m.sub)) for m in (ADA, ALAN)] == [1, 1]
    assert lms.gradebook.result(A02, ALAN.sub)["scoreGiven"] == 13.0
    assert len(lms.gradebook.line_items) == 1


def test_500s_then_ok_every_grade_arrives_once(
        course: Path, lms: Platform, passback: Callable[[], Passback]) -> None:
    two_graded(course)
    lms.fail_posts = 3  # the line item's creation and the first scores
    service = passback()
    service.released("ada", SPEC02)
    service.released("alan", SPEC02)
    wait_for(lambda: states(course)[SENT] == 2)
    assert lms.fail_posts == 0
    assert [len(lms.gradebook.scores_of(m.sub)) for m in (ADA, ALAN)] == [1, 1]
    assert len(lms.gradebook.line_items) == 1


def test_a_refused_token_is_renewed_and_the_score_goes(
        course: Path, lms: Platform, passback: Callable[[], Passback]) -> None:
    two_graded(course)
    service = passback()
    service.released("ada", SPEC02)
    wait_for(lambda: lms.gradebook.result(A02, ADA.sub))
    tokens = len(lms.course.issued)
    lms.revoke_tokens()  # the token the service holds is now stale
    service.released("alan", SPEC02)
    wait_for(lambda: lms.gradebook.result(A02, ALAN.sub))
    wait_for(lambda: states(course) == {WAITING: 0, SENT: 2, REFUSED: 0})
    assert len(lms.course.issued) == tokens + 1


def test_users_the_lms_refuses_are_reported_not_retried(
        course: Path, lms: Platform, passback: Callable[[], Passback],
        capsys: pytest.CaptureFixture[str]) -> None:
    with Gradebook(course_settings(course).db_url, "kerasgrade") as gb:
        gb.update_or_create_student("ghost", lms_user_id="no-such-user")
        gb.update_or_create_student("grace", lms_user_id=GRACE.sub)
        gb.update_or_create_student("nolms")
    for student in ("ghost", "grace", "nolms"):
        grade(course, A02, student)
    assert lti(course, "sync", A02) == 1
    out = capsys.readouterr().out
    assert "ghost 02-connected-networks: the LMS refused it (422): User no-such-user is not " \
           "in this course" in out
    assert "is not a student of this course" in out
    assert states(course) == {WAITING: 0, SENT: 0, REFUSED: 3}
    service = passback()  # a service starting later sends nothing of them again
    time.sleep(0.5)
    assert lms.gradebook.posted == [] and service.on
    assert lti(course, "outbox") == 0
    listing = capsys.readouterr().out
    assert "nolms  02-connected-networks  14/14  refused: the LMS's roster has no user" in listing
    assert "3 refused" in listing


def test_a_user_who_never_launched_is_reported(course: Path, lms: Platform) -> None:
    lms.require_launch = True
    enrol(course, ADA)
    grade(course, A02, "ada")
    assert lti(course, "sync", A02) == 1
    assert states(course)[REFUSED] == 1 and lms.gradebook.posted == []


def test_a_user_the_launch_record_lacks_is_reported_before_the_lms_is_asked(
        course: Path, lms: Platform, capsys: pytest.CaptureFixture[str]) -> None:
    record_launch(course, lms.claims() | {"sub": ALAN.sub, "iss": ISSUER, "aud": CLIENT_ID},
                  "alan", "email_local")  # Alan launched, Ada never did
    enrol(course, ADA, ALAN)
    grade(course, A02, "ada")
    grade(course, A02, "alan")
    assert lti(course, "sync", A02) == 1
    assert [s["userId"] for s in lms.gradebook.posted] == [ALAN.sub]
    assert ("refused: ada 02-connected-networks: ada never launched the tool from the LMS"
            in capsys.readouterr().out)
    assert lti(course, "outbox") == 0
    assert ("ada  02-connected-networks  14/14  refused: ada never launched the tool from the "
            "LMS, and an LMS takes no score for such a user: once they have, `kerasgrade lti "
            "sync 02-connected-networks` sends it") in capsys.readouterr().out


def test_a_restart_resumes_the_outbox(
        course: Path, lms: Platform, passback: Callable[[], Passback]) -> None:
    enrol(course, ADA)
    grade(course, A02, "ada")
    lms.down()
    first = passback()
    first.released("ada", SPEC02)
    wait_for(lambda: states(course)[WAITING] == 1)
    first.close()  # the service stops with the score unsent
    lms.up()
    passback()  # started again: it sends what waited
    wait_for(lambda: states(course)[SENT] == 1)
    assert len(lms.gradebook.scores_of(ADA.sub)) == 1


def test_scores_wait_while_the_hub_names_users_by_another_rule(
        course: Path, lms: Platform, passback: Callable[[], Passback],
        capsys: pytest.CaptureFixture[str]) -> None:
    enrol(course, ADA)
    grade(course, A02, "ada")
    service = passback()
    # The hub is set to name users by their LMS id while the service runs.
    context = course / ".kerasgrade" / "lti" / "context.json"
    claims = json.loads(context.read_text())
    context.write_text(json.dumps(claims | {"user_id": "sub"}))
    time.sleep(0.5)  # the thread's next turn sees the record
    service.released("ada", SPEC02)
    said: list[str] = []
    wait_for(lambda: said.append(capsys.readouterr().out) or (
        "scores wait and the roster is not read: the hub names LMS users by the rule 'sub'"
        in "".join(said)))
    time.sleep(1.0)
    assert lms.gradebook.posted == [] and states(course)[WAITING] == 1
    context.write_text(json.dumps(claims | {"user_id": "email_local"}))  # set back
    wait_for(lambda: states(course)[SENT] == 1)
    assert len(lms.gradebook.scores_of(ADA.sub)) == 1


def test_the_service_refuses_a_key_others_can_read(
        course: Path, tool_key: Path, passback: Callable[[], Passback]) -> None:
    tool_key.chmod(0o644)
    with pytest.raises(LtiProblem, match="chmod 600"):
        passback()


def test_without_lti_settings_the_commands_say_what_to_set(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n")
    assert cli.main(["lti", "--root", str(tmp_path), "roster"]) == 2
    assert "LTI is not configured: set c.KerasgradeLti.issuer" in capsys.readouterr().err


def test_the_launch_context_is_where_the_endpoints_come_from(course: Path, lms: Platform,
                                                             tmp_path: Path) -> None:
    (course / ".kerasgrade" / "lti" / "context.json").unlink()
    assert lti(course, "roster") == 2  # no launch yet and no URL set
    write_context(course, lms)
    assert lti(course, "roster") == 0


def test_the_tools_public_key_is_the_one_the_lms_registered(
        course: Path, lms: Platform, capsys: pytest.CaptureFixture[str]) -> None:
    assert lti(course, "jwk") == 0
    printed = json.loads(capsys.readouterr().out)
    [registered] = lms.course.get_tool_key_set()["keys"]
    assert {k: printed[k] for k in ("kty", "n", "e", "kid")} == {
        k: registered[k] for k in ("kty", "n", "e", "kid")}
    assert "d" not in printed  # public only
    assert lti(course, "jwk", "--pem") == 0
    assert capsys.readouterr().out.strip() == public_pem(lms.tool_key).strip()


def test_a_key_the_lms_does_not_know_keeps_the_scores_waiting_with_why(
        course: Path, lms: Platform, tool_key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    enrol(course, ADA)
    grade(course, A02, "ada")
    other = Platform()  # another platform's tool key: the LMS cannot check the assertion
    tool_key.write_text(other.tool_key_pem())
    assert lti(course, "sync", A02) == 1
    out = capsys.readouterr().out
    assert "1 score(s) wait (the LMS refused the tool's access token request (400)" in out
    assert states(course)[WAITING] == 1 and lms.gradebook.posted == []


def test_the_passback_benchmark_reports_its_line(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "lti_passback.py"),
                           "--grades", "3"], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("first_s: ") and last.endswith("target_s: 5 lost: 0")
