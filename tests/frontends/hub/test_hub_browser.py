"""The course in a real JupyterHub, end to end in Debian's Chromium.

docs/jupyterhub_config.py runs as documented: PAM logins of real Unix users (an instructor,
two students), their JupyterLab servers from the single-user venv (tests/hub_venv.py) run as
them, nbgrader's exchange, and `kerasgrade serve` as a managed service of the hub. Student 1
fetches 02 in the Assignments tab, types two answers (the others are in the notebook already),
runs the checks, restarts and runs all, and submits; student 2 submits the no-softmax mistake
with an output that carries script. The service grades both and releases the feedback; each
student fetches theirs in the browser and finds their own score and kerasgrade's report, and
cannot reach the other's server, home or the exchange's listings. The instructor's formgrader
shows both graded, and the hostile output runs nothing there, nor does a student id that holds
HTML.

Screenshots of every step go to test-artifacts/hub/ (git-ignored).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat
import pytest
from browser import Page as Text
from browser import chromium, wait_for_checks
from hub_course import (
    AID,
    Course,
    assignments_tab,
    course_on_hub,
    fetch,
    put_notebook,
    row_button,
    scores,
    submit,
    wait_released,
)
from lab_server import STARTUP_SECONDS
from nbformat.v4 import new_code_cell
from unix_users import Student

from kerasgrade.course.demo import MISTAKES, answered

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "test-artifacts" / "hub"
CHECKS = 10  # one check cell per TODO cell
TYPED = {  # the answers student 1 types; the notebook holds the others
    "todo_hidden_layer": 'model.add(Dense(16, activation="relu"))',
    "todo_output_layer": 'model.add(Dense(10, activation="softmax"))',
}
RUN_SECONDS = 420  # TensorFlow's import and ten epochs on the sample, on a busy machine
# A student output that would run script where it is shown: it must not in the formgrader.
HOSTILE = new_code_cell(
    "from IPython.display import HTML, display\n"
    "display(HTML('<img src=\"x\" onerror=\"window.kgPwned = 1\">'\n"
    "             '<script>window.kgPwned = 2</script>hostile output'))")
# A student id that is an HTML tag and breaks out of a script's string (nbgrader's formgrader
# prints it into its pages as it is): kerasgrade's guard, which the hub config enables, escapes it.
HOSTILE_ID = '<img src=x onerror=kgPwned=3>";kgPwned=4;"'


@pytest.fixture(scope="module")
def course() -> Iterator[Course]:
    tag = os.getpid() % 100_000
    with course_on_hub(f"kgteach{tag}", [f"kgstu1x{tag}", f"kgstu2x{tag}"]) as made:
        yield made


@pytest.fixture(scope="module")
def shots() -> Iterator[Path]:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    yield ARTIFACTS
    print(f"screenshots: {ARTIFACTS}")


def shot(page: Page, shots: Path, name: str) -> None:
    page.screenshot(path=shots / f"{name}.png")


@contextlib.contextmanager
def logged_in(course: Course, account: Student) -> Iterator[tuple[BrowserContext, Page]]:
    """A browser of this user's own, logged in at the hub, with the server's JupyterLab up."""
    with chromium(viewport={"width": 1280, "height": 860}) as context:
        page = context.new_page()
        page.goto(f"{course.hub.url}/hub/login")
        page.fill("#username_input", account.name)
        page.fill("#password_input", course.passwords[account.name])
        page.click("#login_submit")
        # The hub spawns the server and sends the browser on to it.
        page.wait_for_url(f"**/user/{account.name}/lab**", timeout=STARTUP_SECONDS * 2000)
        try:
            page.locator("#jp-main-dock-panel").wait_for(timeout=STARTUP_SECONDS * 1000)
            yield context, page
        except BaseException:  # a picture of where it stopped
            page.screenshot(path=ARTIFACTS / f"failed-{account.name}.png")
            raise


def menu(page: Page, top: str, item: str) -> None:
    page.get_by_role("menuitem", name=top, exact=True).click()
    page.get_by_role("menuitem", name=item, exact=True).click()


def test_students_submit_the_service_grades_each_sees_only_their_feedback(
        course: Course, shots: Path) -> None:
    first, second = course.students
    start = time.monotonic()

    # (a) Student 1: fetch, type two answers, run the checks, restart and run all, submit.
    with logged_in(course, first) as (_, page):
        shot(page, shots, "01-student-lab")
        tab = fetch(page, first)
        shot(page, shots, "02-student-fetched")
        put_notebook(first, answered(ROOT, AID, unanswered=tuple(TYPED)))
        page.goto(f"{course.hub.url}/user/{first.name}/lab/tree/{AID}/{AID}.ipynb")
        notebook = page.locator(".jp-NotebookPanel-notebook")
        expect(notebook.locator(".jp-CodeCell", has_text="check_step(")).to_have_count(
            CHECKS, timeout=STARTUP_SECONDS * 1000)
        page.locator(".jp-StatusBar-Widget", has_text="| Idle").wait_for(
            timeout=STARTUP_SECONDS * 1000)
        todo = notebook.locator(".jp-CodeCell", has_text="NotImplementedError")
        expect(todo).to_have_count(len(TYPED))
        for answer in TYPED.values():
            todo.first.locator(".cm-content").click()
            page.keyboard.press("Control+A")
            page.keyboard.type(answer)
            page.keyboard.press("Escape")
            expect(notebook.locator(".jp-CodeCell", has_text=answer)).to_have_count(1)
        menu(page, "Run", "Run All Cells")
        ticks = wait_for_checks(notebook, CHECKS, RUN_SECONDS)
        shot(page, shots, "03-student-checks")
        assert ticks.count() == CHECKS, f"{ticks.count()} of {CHECKS} checks passed"
        # The run that counts: a fresh kernel, top to bottom; the ticks come back.
        menu(page, "Edit", "Clear Outputs of All Cells")
        expect(ticks).to_have_count(0)
        menu(page, "Kernel", "Restart Kernel and Run All Cells…")
        page.locator(".jp-Dialog-button.jp-mod-accept").click()
        ticks = wait_for_checks(notebook, CHECKS, RUN_SECONDS)
        assert ticks.count() == CHECKS, f"{ticks.count()} of {CHECKS} after restart"
        page.keyboard.press("Control+S")
        expect(page.locator(".jp-mod-dirty")).to_have_count(0, timeout=30_000)
        saved = nbformat.read(first.home / AID / f"{AID}.ipynb", 4)
        assert all(a in "".join(c.source for c in saved.cells) for a in TYPED.values())
        assert "✔ save" in json.dumps(saved, ensure_ascii=False)
        tab = assignments_tab(page)
        submit(tab)
        shot(page, shots, "04-student-submitted")

    # (b) Student 2 submits the no-softmax mistake, with an output that carries script.
    with logged_in(course, second) as (_, page):
        tab = fetch(page, second)
        mistake = answered(ROOT, AID, MISTAKES[AID]["no-softmax"])
        mistake.cells.append(HOSTILE)
        put_notebook(second, mistake)
        submit(tab)
    print(f"both submitted after {time.monotonic() - start:.0f} s")

    # (c) The service grades both and releases their feedback.
    wait_released(course)
    graded = scores(course)
    print(f"graded and released after {time.monotonic() - start:.0f} s: {graded}")
    assert graded[first.name] == 14.0
    assert graded[second.name] < graded[first.name]

    # (d) Each student fetches their feedback in the browser and reads their own page;
    # student 2 first, so that student 1 then tries student 2's real feedback page.
    pages: dict[str, str] = {}
    for account, name in ((second, "06-student2-feedback"), (first, "05-student-feedback")):
        with logged_in(course, account) as (_, page):
            tab = assignments_tab(page)
            row_button(tab, "Fetch Feedback").click(timeout=STARTUP_SECONDS * 1000)
            tab.get_by_text("(view feedback)").click(timeout=60_000)
            (html,) = (account.home / AID / "feedback").glob(f"*/{AID}.html")
            assert html.stat().st_uid == account.uid
            pages[account.name] = f"/user/{account.name}/files/{html.relative_to(account.home)}"
            page.goto(course.hub.url + pages[account.name])
            report = Text(page.content())
            text = report.text
            shot(page, shots, name)
            score = graded[account.name]
            assert f"(Score: {score:.1f} / 14.0)" in text  # nbgrader's header: the gradebook's
            assert f"{score:g} / 14 points" in text  # kerasgrade's report agrees
            assert 'class="kerasgrade-report"' in page.content()
            # The report's check cards: all passed for 1, the softmax check failed for 2.
            assert report.check_states and ("failed" in report.check_states) == (
                account is second), report.check_states
            if account is second:
                assert "activation='softmax'" in text or 'activation="softmax"' in text
                assert page.evaluate("() => window.kgPwned === undefined")
                continue
            # Student 1 cannot open student 2's server or feedback through the hub...
            for path in (f"/user/{second.name}/lab", pages[second.name]):
                response = page.goto(course.hub.url + path)
                assert response is not None and response.status == 403, (
                    path, response and response.status, page.url)
            shot(page, shots, "07-student-forbidden")

    # ...nor, as that Unix user, list the exchange's submissions or feedback, or read the
    # other's home.
    for folder in ("inbound", "feedback"):
        listing = first.command("ls", str(course.exchange / "kerasgrade" / folder))
        assert listing.returncode != 0 and "Permission denied" in listing.stderr, listing
    listing = first.command("ls", str(second.home / AID))
    assert listing.returncode != 0 and "Permission denied" in listing.stderr, listing

    # (e) The instructor's formgrader shows both graded; the hostile output runs nothing.
    with logged_in(course, course.instructor) as (_, page):
        menu(page, "Nbgrader", "Formgrader")
        page.frame_locator("iframe").first.get_by_text(AID).first.wait_for(timeout=60_000)
        shot(page, shots, "08-instructor-formgrader")
        user = f"{course.hub.url}/user/{course.instructor.name}"
        page.goto(f"{user}/formgrader/gradebook/{AID}/{AID}")
        table = page.locator("table")
        for account in course.students:
            row = table.locator("tr", has_text=account.name)
            expect(row).to_contain_text(f"{graded[account.name]:g} / 14", timeout=60_000)
        page.get_by_role("button", name="Show All Names").click()
        shot(page, shots, "09-instructor-gradebook")
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        table.locator("tr", has_text=second.name).locator("a:visible").first.click()
        expect(page.locator("body")).to_contain_text("hostile output", timeout=60_000)
        page.keyboard.press("End")  # the hostile cell is the last
        page.wait_for_timeout(1000)  # time for an image's onerror to fire
        shot(page, shots, "10-instructor-submission")
        assert page.evaluate("() => window.kgPwned === undefined")
        # A student id that holds HTML, already in the gradebook: Manage Students lists it, its
        # page shows it as text, and neither runs it.
        course.instructor.run("db", "student", "add", HOSTILE_ID, cwd=course.folder)
        page.goto(f"{user}/formgrader/manage_students")
        row = page.locator("#main-table tr", has=page.locator("td.id", has_text="onerror"))
        expect(row.locator("td.id")).to_have_text(HOSTILE_ID, timeout=60_000)
        row.locator("td.name a").click()
        expect(page.locator("ol.breadcrumb li.active")).to_have_text(HOSTILE_ID)
        page.wait_for_timeout(1000)  # time for an image's onerror to fire
        shot(page, shots, "11-instructor-hostile-student")
        assert page.evaluate("() => window.kgPwned === undefined")
        assert not dialogs
    # The hub starts a managed service again when it exits: it must never have had to.
    assert "Service kerasgrade exited" not in course.hub.log.read_text()
    print(f"the whole course took {time.monotonic() - start:.0f} s")
