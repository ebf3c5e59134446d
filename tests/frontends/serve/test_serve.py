"""`kerasgrade serve` end to end: nbgrader's exchange, real kernels, TensorFlow on the sample."""

from __future__ import annotations

import contextlib
import signal
import time
from pathlib import Path

import psutil
import pytest
from browser import Page
from classroom import AID
from serving import DENSE32, SOLVED, Student, events, scores, served_course, start, stop, wait_for
from time_limit_case import LIMIT, LOOPING, env, named

from kerasgrade import sandbox

pytestmark = pytest.mark.slow

COOLOFF = 45  # seconds: longer than an nbgrader submit on a busy machine


@pytest.fixture(autouse=True)
def _sandbox() -> None:
    if reason := sandbox.unavailable_reason():
        pytest.skip(reason)


def test_two_students_get_their_feedback(tmp_path: Path) -> None:
    course = served_course(tmp_path, max_attempts=3)
    alice, bob = Student.at(course, "alice"), Student.at(course, "bob")
    carol = Student.at(course, "carol")
    log = tmp_path / "serve.log"
    proc = start(course, log)
    try:
        alice.submit("solved")
        bob.submit("dense32")
        carol.submit("broken")
        wait_for(course, proc, log, "released", 3)
        assert not [e for e in events(course) if e["event"] == "fault"]
        assert stop(proc) == 0
    finally:
        proc.kill()
    assert scores(course) == {"alice": SOLVED, "bob": DENSE32, "carol": 0.0}
    # A file that is not a notebook: nothing ran, so nbgrader has no page to make; the
    # student gets kerasgrade's, with the score and the reason.
    [html] = carol.fetch_feedback()
    assert "0 / 14 points" in Page(html).text
    assert html == (course / "reports" / "carol" / AID / "feedback.html").read_text()
    for student, score in ((alice, SOLVED), (bob, DENSE32)):
        [html] = student.fetch_feedback()
        text = Page(html).text
        assert f"(Score: {score:.1f} / 14.0)" in text  # nbgrader's header
        assert html.index('<div class="kerasgrade-report">') < html.index("02 · A densely")
        assert f"{score:g} / 14 points" in text
        assert "Graded attempt 1 of 3: 2 attempts left." in text
    page = (course / "reports" / "alice" / AID / "feedback.html").read_text()
    assert "Graded attempt 1 of 3: 2 attempts left." in page
    assert "stopping on SIGTERM" in log.read_text()


def test_replacement_order_cooloff_and_limit(tmp_path: Path) -> None:
    """Submitted before the service starts: alice, bob, alice again. Alice's second replaces
    her first at her place, so alice is graded before bob; her third waits out the cool-off,
    her fourth is past the limit: collected, refused, a page without a score."""
    course = served_course(tmp_path, max_attempts=2, cooloff_seconds=COOLOFF)
    alice, bob = Student.at(course, "alice"), Student.at(course, "bob")
    first = alice.submit("dense32")
    bob.submit("dense32")
    second = alice.submit("solved")
    log = tmp_path / "serve.log"
    proc = start(course, log)
    try:
        [graded] = wait_for(course, proc, log, "graded", 1)
        assert (graded["student"], graded["inbound"]) == ("alice", second)
        third = alice.submit("solved")  # the same notebook: its stored result, no rerun
        [deferred] = wait_for(course, proc, log, "deferred")
        assert deferred["inbound"] == third
        released = wait_for(course, proc, log, "released", 3)
        assert [e["student"] for e in released] == ["alice", "bob", "alice"]
        assert released[2]["inbound"] == third and released[2]["attempt"] == 2
        assert released[2]["time"] - graded["time"] >= COOLOFF
        alice.submit("dense32")
        wait_for(course, proc, log, "refused")
        assert stop(proc) == 0
    finally:
        proc.kill()
    log_events = events(course)
    assert [e["inbound"] for e in log_events if e["event"] == "replaced"] == [first]
    assert scores(course) == {"alice": SOLVED, "bob": DENSE32}  # the refused one is not graded
    pages = alice.fetch_feedback()
    assert len(pages) == 3  # attempts 1 and 2, and the refusal
    assert "Graded attempt 2 of 2: no attempts left." in Page(pages[1]).text
    refusal = Page(pages[2]).text
    assert "not graded" in refusal and "all 2 graded attempts" in refusal
    assert "Score" not in refusal and "points" not in refusal
    assert (course / "submitted" / "alice" / AID / f"{AID}.ipynb").exists()


def test_sigkill_at_any_step_loses_and_repeats_nothing(tmp_path: Path) -> None:
    """SIGKILL while queued, while grading, right after a grade: every submission ends graded
    and released exactly once."""
    course = served_course(tmp_path)
    alice, bob = Student.at(course, "alice"), Student.at(course, "bob")
    log = tmp_path / "serve.log"
    names = {alice.submit("solved"), bob.submit("dense32")}
    for moment, more in (("queued", 2), ("started", 1), ("graded", 1)):
        before = sum(e["event"] == moment for e in events(course))
        proc = start(course, log)
        try:
            wait_for(course, proc, log, moment, before + more)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    proc = start(course, log)
    try:
        wait_for(course, proc, log, "released", 2)
        assert stop(proc) == 0
    finally:
        proc.kill()
    log_events = events(course)
    for event in ("queued", "graded", "released"):
        assert sorted(e["inbound"] for e in log_events if e["event"] == event) == sorted(names)
    assert scores(course) == {"alice": SOLVED, "bob": DENSE32}
    assert all((course / ".kerasgrade" / "results" / AID / f"{s}.json").exists()
               for s in ("alice", "bob"))


def test_grader_fault_is_no_attempt(tmp_path: Path) -> None:
    """Workers killed (as the OOM killer would) until grading fails as the grader's fault: the
    submission is graded on a later try, as its first and only attempt."""
    course = served_course(tmp_path, max_attempts=1, fault_retry_seconds=1)
    alice = Student.at(course, "alice")
    log = tmp_path / "serve.log"
    proc = start(course, log)
    try:
        name = alice.submit("solved")
        wait_for(course, proc, log, "started")
        service = psutil.Process(proc.pid)
        while not [e for e in events(course) if e["event"] == "fault"]:
            for child in service.children():
                with contextlib.suppress(psutil.NoSuchProcess):
                    if "spawn_main" in " ".join(child.cmdline()):
                        child.kill()
            time.sleep(0.1)
        [released] = wait_for(course, proc, log, "released")
        assert stop(proc) == 0
    finally:
        proc.kill()
    assert (released["inbound"], released["attempt"]) == (name, 1)
    assert scores(course) == {"alice": SOLVED}
    assert "Graded attempt 1 of 1: no attempts left." in Page(alice.fetch_feedback()[0]).text


def test_a_cell_stopped_at_the_time_limit_is_named_in_the_released_feedback(
        tmp_path: Path) -> None:
    """An endless loop before model.fit, under a short cell limit: the page the student
    fetches names the cell, the limit, the reference's time and the usual causes."""
    course = served_course(tmp_path)
    dave = Student.at(course, "dave")
    log = tmp_path / "serve.log"
    proc = start(course, log, env(LIMIT))
    try:
        dave.submit(LOOPING)
        [released] = wait_for(course, proc, log, "released")
        assert stop(proc) == 0
    finally:
        proc.kill()
    [html] = dave.fetch_feedback()
    text = Page(html).text
    assert "Stopped at the time limit" in text
    named(text, LIMIT)
    assert released["attempt"] == 1
