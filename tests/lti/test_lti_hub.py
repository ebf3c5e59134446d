"""Students come from the LMS: LTI 1.3 launches into the real JupyterHub (docs/lti.md).

docs/jupyterhub_config.py with its LTI section on (KERASGRADE_LTI_*), jupyterhub-ltiauthenticator
under kerasgrade's glue (kerasgrade.lti.launch), and the platform of lti_platform.py. In
Debian's Chromium a learner follows the LMS's link: the LMS starts the OIDC login at the hub,
the hub sends the browser to the LMS's authorization, the LMS posts the signed launch back, and
the learner lands in JupyterLab on their own server, named by the course's rule (the e-mail's
local part), with the launch's service claims kept for the service where no student reads
them. A launch signed with another key, an expired one, one posted twice, and one for a user
without an account here are each refused with a page that says so. The instructor reads the
roster through the endpoint the launch brought (`kerasgrade lti roster`); the learner fetches
02 and submits it; `kerasgrade serve` grades it and the grade reaches the platform's gradebook.
A second learner, given an account, launches and hands 02 in after its due date: the platform
gets the grade after the course's late penalty. The first hands in 04, whose written answers
wait for the formgrader: the platform holds it PendingManual until the instructor's manual
grade is in the gradebook and `kerasgrade lti sync` sends the total, FullyGraded.

Screenshots go to test-artifacts/hub-lti/ (git-ignored).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests
from browser import Page as Text
from browser import chromium
from hub_course import (
    AID,
    Course,
    course_on_hub,
    fetch,
    put_notebook,
    scores,
    submit,
    wait_released,
)
from lab_server import STARTUP_SECONDS
from lti_course import grade_by_hand, lti_config, platform_up, write_key
from lti_platform import (
    CLIENT_ID,
    CONTEXT,
    DEPLOYMENT_ID,
    ISSUER,
    LEARNER,
    ROSTER,
    Member,
    Platform,
    new_key,
)
from nbgrader.api import Gradebook
from unix_users import Student, unix_user

from kerasgrade.course.assignments import IMPROVING_NETWORK
from kerasgrade.course.demo import answered
from kerasgrade.lti.launches import AGS_CLAIM, NRPS_CLAIM, context_path, read_context
from kerasgrade.lti.settings import KEY

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "hub-lti"
ADA, ALAN, GRACE = ROSTER  # two learners and the instructor; Alan has no account here
PASSBACK_SECONDS = 60
WRITTEN = IMPROVING_NETWORK  # 04: autograded checks and answers the formgrader grades


def login(member: Member) -> str:
    """The hub user the course's rule (c.KerasgradeLti.user_id, email_local) makes of them."""
    return member.email.partition("@")[0]


@pytest.fixture(scope="module")
def lms() -> Iterator[Platform]:
    with platform_up() as platform:
        yield platform


@pytest.fixture(scope="module")
def course(lms: Platform) -> Iterator[Course]:
    env = {"KERASGRADE_LTI_ISSUER": ISSUER, "KERASGRADE_LTI_CLIENT_ID": CLIENT_ID,
           "KERASGRADE_LTI_DEPLOYMENT_ID": DEPLOYMENT_ID,
           "KERASGRADE_LTI_CONTEXT_ID": CONTEXT.id, "KERASGRADE_LTI_AUTH_URL": lms.auth_url,
           "KERASGRADE_LTI_KEYSET_URL": lms.jwks_url, "KERASGRADE_LTI_USER_ID": "email_local"}
    with course_on_hub(login(GRACE), [login(ADA)], env, registered(lms)) as made:
        lms.register_tool(f"{made.hub.url}/hub/lti13/oauth_login",
                          f"{made.hub.url}/hub/lti13/oauth_callback")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        yield made


def registered(lms: Platform) -> Callable[[Path, Student], None]:
    """The course's side of the registration, as docs/lti.md has the instructor do it: the
    tool's key in the course's .kerasgrade/lti/ (0600, the instructor's) and c.KerasgradeLti
    in nbgrader_config.py;
    with nbgrader's late penalty "zero" (late work scores nothing), and 04 released too."""

    def register(folder: Path, instructor: Student) -> None:
        key = write_key(lms, folder / KEY)
        for path in (folder / ".kerasgrade", key.parent, key):
            os.chown(path, instructor.uid, instructor.gid)
        with (folder / "nbgrader_config.py").open("a") as config:
            config.write(lti_config(lms, key))  # c.KerasgradeLti.user_id: email_local
            config.write("c.LateSubmissionPlugin.penalty_method = 'zero'\n")
        source = folder / "source" / WRITTEN
        shutil.copytree(ROOT / "source" / WRITTEN, source)
        for path in [source, *source.rglob("*")]:
            os.chown(path, instructor.uid, instructor.gid)
        for args in (["generate_assignment", WRITTEN],
                     ["db", "assignment", "add", WRITTEN, "--duedate=2099-01-01 00:00:00 UTC"],
                     ["release_assignment", WRITTEN,
                      f"--Exchange.root={folder.parent / 'exchange'}"]):
            instructor.run(*args, cwd=folder)

    return register


def launched(context: BrowserContext, course: Course, lms: Platform, member: Member) -> Page:
    """A browser that followed the LMS's link to the tool, in JupyterLab on its server."""
    page = context.new_page()
    page.goto(lms.login_url(member.sub))
    try:
        page.wait_for_url(f"**/user/{login(member)}/lab**", timeout=STARTUP_SECONDS * 2000)
        page.locator("#jp-main-dock-panel").wait_for(timeout=STARTUP_SECONDS * 1000)
        page.locator("#jupyterlab-splash").wait_for(state="detached",
                                                    timeout=STARTUP_SECONDS * 1000)
    except BaseException:  # a picture of where it stopped
        page.screenshot(path=ARTIFACTS / f"failed-{login(member)}.png")
        raise
    return page


def launch_form(lms: Platform, member: Member) -> tuple[str, dict[str, str], dict[str, str]]:
    """A launch up to the LMS's form, without a browser: the form's action and fields (the
    signed id_token, the state) and the hub's cookies of that login."""
    session = requests.Session()
    answer = session.get(lms.login_url(member.sub), timeout=60)
    assert answer.status_code == 200, answer.text[:2000]
    action = re.search(r'action="([^"]+)"', answer.text)
    assert action, answer.text[:2000]
    return (action[1], dict(re.findall(r'name="(\w+)" value="([^"]*)"', answer.text)),
            session.cookies.get_dict())


def post(action: str, fields: dict[str, str], cookies: dict[str, str]) -> requests.Response:
    return requests.post(action, data=fields, cookies=cookies, allow_redirects=False,
                         timeout=60)


def refused(answer: requests.Response, status: int, why: str) -> None:
    text = Text(answer.text).text
    assert answer.status_code == status, (answer.status_code, text[:2000])
    assert f"The launch from your LMS was refused: {why}" in text, text[:2000]
    assert "Traceback" not in answer.text


def test_a_learner_launches_from_the_lms_onto_their_server(course: Course, lms: Platform
                                                           ) -> None:
    with chromium(viewport={"width": 1280, "height": 860}) as context:
        page = launched(context, course, lms, ADA)
        page.screenshot(path=ARTIFACTS / "01-launched-lab.png")
    assert login(ADA) == course.students[0].name
    # The launch's gradebook and roster endpoints, and who launched, as the LMS sent them.
    path = context_path(course.folder)
    recorded = read_context(course.folder)
    assert recorded[AGS_CLAIM] == lms.claims()[AGS_CLAIM]
    assert recorded[NRPS_CLAIM] == lms.claims()[NRPS_CLAIM]
    assert recorded["context"]["id"] == CONTEXT.id
    assert recorded["user_id"] == "email_local"  # the rule serve and `lti` check theirs against
    assert recorded["launched"][login(ADA)]["sub"] == ADA.sub
    assert recorded["launched"][login(ADA)]["roles"] == [LEARNER]
    # The instructor's (the service's user), and no student's to read.
    info = path.stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (course.instructor.uid, 0o600)
    peek = course.students[0].command("cat", str(path))
    assert peek.returncode != 0 and "Permission denied" in peek.stderr, peek


def test_forged_expired_replayed_and_unknown_launches_are_refused_with_a_page(
        course: Course, lms: Platform) -> None:
    # Signed with a key the LMS never published, followed in a browser as a student would.
    lms.launch_key = new_key()
    try:
        with chromium(viewport={"width": 1280, "height": 860}) as context:
            page = context.new_page()
            page.goto(lms.login_url(ADA.sub))
            page.get_by_text("LTI launch refused").first.wait_for(timeout=60_000)
            text = Text(page.content()).text
            page.screenshot(path=ARTIFACTS / "02-forged-refused.png")
        assert "its signature does not match the LMS's keys" in text, text
        assert "/user/" not in page.url
    finally:
        lms.launch_key = None

    # Expired before it arrives.
    lms.id_token_ttl = -120
    try:
        refused(post(*launch_form(lms, ADA)), 401, "it has expired")
    finally:
        lms.id_token_ttl = 300

    # Posted again, cookies and all: the second is refused; without the cookies too.
    action, fields, cookies = launch_form(lms, ADA)
    first = post(action, fields, cookies)
    assert first.status_code == 302, Text(first.text).text[:2000]
    refused(post(action, fields, cookies), 400, "it was used already")
    refused(post(action, fields, {}), 400, "it does not continue a login started in this "
                                           "browser")

    # A learner of the course without an account on this hub.
    refused(post(*launch_form(lms, ALAN)), 403,
            f"there is no account for {login(ALAN)} on this hub")
    assert login(ALAN) not in read_context(course.folder)["launched"]


def test_the_launched_learner_submits_02_and_the_grade_reaches_the_lms(course: Course,
                                                                        lms: Platform) -> None:
    ada = course.students[0]
    with chromium(viewport={"width": 1280, "height": 860}) as context:
        page = launched(context, course, lms, ADA)
        # The roster through the endpoint the launch brought: each learner's LMS user id.
        roster = course.instructor.command(
            str(ada.nbgrader.parent / "kerasgrade"), "lti", "roster", cwd=course.folder)
        assert roster.returncode == 0, roster.stdout + roster.stderr
        assert f"not a student, not added: {login(GRACE)}" in roster.stdout, roster.stdout
        tab = fetch(page, ada)
        put_notebook(ada, answered(ROOT, AID))
        submit(tab)
        page.screenshot(path=ARTIFACTS / "03-submitted.png")
    wait_released(course)
    assert scores(course) == {ada.name: 14.0}
    # The service posts it: one line item for 02, Ada's score, fully graded.
    deadline = time.monotonic() + PASSBACK_SECONDS
    while (held := lms.gradebook.result(AID, ADA.sub)) is None:
        assert time.monotonic() < deadline, course.hub.log.read_text()[-4000:]
        time.sleep(0.5)
    assert len(lms.gradebook.line_items) == 1, lms.gradebook.line_items
    assert (held["scoreGiven"], held["scoreMaximum"]) == (14.0, 14.0), held
    assert (held["activityProgress"], held["gradingProgress"]) == ("Completed", "FullyGraded")


def held(lms: Platform, aid: str, member: Member, progress: str) -> dict[str, object]:
    """The platform's score of the member on the assignment, once its grading progress is
    ``progress``."""
    deadline = time.monotonic() + PASSBACK_SECONDS
    while (result := lms.gradebook.result(aid, member.sub)) is None or (
            result["gradingProgress"] != progress):
        assert time.monotonic() < deadline, (result, lms.gradebook.posted)
        time.sleep(0.5)
    return result


def submission(course: Course, aid: str, student: str) -> tuple[float, float]:
    """The gradebook's score and late penalty of a submission."""
    with Gradebook(f"sqlite:///{course.folder / 'gradebook.db'}") as gb:
        found = gb.find_submission(aid, student)
        return found.score, found.late_submission_penalty


def line_items(lms: Platform, aid: str) -> list[dict[str, object]]:
    return [i for i in lms.gradebook.line_items.values() if i.get("resourceId") == aid]


def test_a_second_learners_late_02_reaches_the_lms_after_the_penalty(course: Course,
                                                                      lms: Platform) -> None:
    # The instructor moves 02's due date into the past; Alan gets an account here.
    course.instructor.run("db", "assignment", "add", AID, "--duedate=2026-01-01 00:00:00 UTC",
                          cwd=course.folder)
    venv = course.students[0].nbgrader.parents[1]
    with unix_user(login(ALAN), course.folder.parent / "home" / login(ALAN), venv,
                   secrets.token_urlsafe(16)) as alan:
        with chromium(viewport={"width": 1280, "height": 860}) as context:
            page = launched(context, course, lms, ALAN)
            tab = fetch(page, alan)
            put_notebook(alan, answered(ROOT, AID))
            submit(tab)
        wait_released(course, AID, [alan])
        assert submission(course, AID, alan.name) == (14.0, 14.0)  # all of it, late
        score = held(lms, AID, ALAN, "FullyGraded")
        assert (score["scoreGiven"], score["scoreMaximum"]) == (0.0, 14.0), score
        assert "Late penalty: 14 points taken off." in str(score["comment"]), score
        assert len(line_items(lms, AID)) == 1, lms.gradebook.line_items


def test_04_pends_on_the_lms_until_the_formgraders_grade_and_a_sync(course: Course,
                                                                     lms: Platform) -> None:
    ada = course.students[0]
    with chromium(viewport={"width": 1280, "height": 860}) as context:
        page = launched(context, course, lms, ADA)
        tab = fetch(page, ada, WRITTEN)
        put_notebook(ada, answered(ROOT, WRITTEN), WRITTEN)
        submit(tab, WRITTEN)
    wait_released(course, WRITTEN)
    autograded, _ = submission(course, WRITTEN, ada.name)
    pending = held(lms, WRITTEN, ADA, "PendingManual")
    assert pending["scoreGiven"] == autograded, (pending, autograded)
    assert "still to be graded by hand" in str(pending["comment"]), pending
    # The instructor grades the written answers (in nbgrader's gradebook, where the
    # formgrader keeps them) and sends the gradebook again.
    grade_by_hand(course.folder, WRITTEN, ada.name)
    total, _ = submission(course, WRITTEN, ada.name)
    assert total > autograded
    sync = course.instructor.command(str(ada.nbgrader.parent / "kerasgrade"), "lti", "sync",
                                     WRITTEN, cwd=course.folder)
    assert sync.returncode == 0, sync.stdout + sync.stderr
    done = held(lms, WRITTEN, ADA, "FullyGraded")
    assert (done["scoreGiven"], done["scoreMaximum"]) == (total, pending["scoreMaximum"]), done
    assert len(line_items(lms, WRITTEN)) == 1, lms.gradebook.line_items
