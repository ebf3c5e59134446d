"""A course on the real JupyterHub (hub_server.py), as the browser tests use it: Unix accounts
for the instructor and the students, the course folder with 02 released to nbgrader's exchange
and its roster, the hub with `kerasgrade serve`; and what a student does in the Assignments tab.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nbformat
import pytest
from hub_server import Hub, jupyterhub
from hub_venv import hub_venv
from lab_server import STARTUP_SECONDS
from nbgrader.api import Gradebook
from nbgrader_course import make_course
from unix_users import Student, need_root_and_debian_python, unix_user

from kerasgrade.course.assignments import CONNECTED_NETWORKS

if TYPE_CHECKING:
    from playwright.sync_api import Page

AID = CONNECTED_NETWORKS
GRADE_SECONDS = 600


@dataclass(frozen=True)
class Course:
    hub: Hub
    folder: Path
    exchange: Path
    instructor: Student
    students: list[Student]
    passwords: dict[str, str]


def chown_tree(root: Path, account: Student) -> None:
    for path in [root, *root.rglob("*")]:
        os.chown(path, account.uid, account.gid)


@contextlib.contextmanager
def course_on_hub(instructor: str, students: list[str], env: dict[str, str] | None = None,
                  prepare: Callable[[Path, Student], None] | None = None) -> Iterator[Course]:
    """The accounts (with passwords for PAM), the course with 02 released and these students
    on its roster, and the hub run from docs/jupyterhub_config.py with ``env`` added;
    ``prepare(course folder, instructor)`` runs before the hub starts the service."""
    need_root_and_debian_python()
    if not shutil.which("configurable-http-proxy"):
        pytest.skip("no configurable-http-proxy: scripts/setup.sh test installs it")
    venv, built, installed = hub_venv()
    print(f"single-user venv {venv}: built in {built:.0f} s (0: cached), "
          f"kerasgrade installed in {installed:.0f} s")
    base = Path(tempfile.mkdtemp(prefix="kerasgrade-hub-"))
    base.chmod(0o755)  # every account reaches its home, the exchange and the venv's config
    names = [instructor, *students]
    passwords = {name: secrets.token_urlsafe(16) for name in names}
    try:
        with contextlib.ExitStack() as stack:
            exchange = base / "exchange"
            exchange.mkdir()
            exchange.chmod(0o777 | 0o1000)  # as nbgrader's docs set it up: everyone, sticky
            teacher, *accounts = [
                stack.enter_context(unix_user(n, base / "home" / n, venv, passwords[n]))
                for n in names]
            folder = make_course(base, AID, {})
            chown_tree(folder, teacher)
            # The instructor releases 02 before the hub starts the service, which needs the
            # course in the exchange (docs/serve.md).
            # The roster: the service grades only its students (docs/serve.md).
            for args in (["generate_assignment", AID],
                         *(["db", "student", "add", s] for s in students),
                         ["db", "assignment", "add", AID, "--duedate=2099-01-01 00:00:00 UTC"],
                         ["release_assignment", AID, f"--Exchange.root={exchange}"]):
                teacher.run(*args, cwd=folder)
            if prepare:
                prepare(folder, teacher)
            hub = stack.enter_context(jupyterhub(base, venv, folder, exchange, instructor,
                                                 students, workers=1, env=env))
            yield Course(hub, folder, exchange, teacher, accounts, passwords)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def assignments_tab(page: Page) -> Page:
    page.get_by_role("menuitem", name="Nbgrader", exact=True).click()
    page.get_by_role("menuitem", name="Assignment List", exact=True).click()
    return page.locator("#nbgrader-assignment-list")


def row_button(tab: Any, label: str, aid: str = AID) -> Any:
    """The button of an assignment's row (02's) in a section of the Assignments tab."""
    return tab.locator(".list_item", has_text=aid).get_by_role("button", name=label, exact=True)


def fetch(page: Page, account: Student, aid: str = AID) -> Any:
    expect = pytest.importorskip("playwright.sync_api").expect
    tab = assignments_tab(page)
    row_button(tab, "Fetch", aid).click(timeout=STARTUP_SECONDS * 1000)
    expect(row_button(tab, "Submit", aid)).to_be_visible(timeout=60_000)
    assert (account.home / aid / f"{aid}.ipynb").is_file()
    return tab


def submit(tab: Any, aid: str = AID) -> None:
    expect = pytest.importorskip("playwright.sync_api").expect
    row_button(tab, "Submit", aid).click()
    expect(tab.locator("#submitted_assignments_list .list_item", has_text=aid)).to_have_count(
        1, timeout=60_000)


def put_notebook(account: Student, nb: nbformat.NotebookNode, aid: str = AID) -> Path:
    """What the student has in the notebook before the browser opens it."""
    path = account.home / aid / f"{aid}.ipynb"
    nbformat.write(nb, path)
    os.chown(path, account.uid, account.gid)
    return path


def events(course: Course) -> list[dict[str, Any]]:
    path = course.folder / ".kerasgrade" / "serve" / "events.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line) for line in lines if line.strip()]


def wait_released(course: Course, aid: str = AID, students: list[Student] | None = None
                  ) -> None:
    """Until the service has released feedback on the assignment (02) to these students (the
    course's) (a fault fails at once)."""
    deadline = time.monotonic() + GRADE_SECONDS
    while time.monotonic() < deadline:
        seen = events(course)
        assert not [e for e in seen if e["event"] in ("fault", "refused")], seen
        if {e["student"] for e in seen if e["event"] == "released"
                and e["assignment"] == aid} >= {s.name for s in students or course.students}:
            return
        time.sleep(1)
    raise AssertionError(f"not released in {GRADE_SECONDS} s: {events(course)}\n"
                         + course.hub.log.read_text()[-4000:])


def scores(course: Course) -> dict[str, float]:
    with Gradebook(f"sqlite:///{course.folder / 'gradebook.db'}") as gb:
        return {s.name: gb.find_submission(AID, s.name).score for s in course.students}
