"""Continuous dispatch in `kerasgrade serve`: a worker takes the next due submission the
moment it is free, and a lone submission trains on every core. Real exchange, real kernels,
TensorFlow on the sample."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from classroom import AID
from serving import Student, events, served_course, slow_solution, start, stop, wait_for

from kerasgrade import sandbox
from kerasgrade.frontends.batch.worker import cores

pytestmark = pytest.mark.slow

@pytest.fixture(autouse=True)
def _sandbox() -> None:
    if reason := sandbox.unavailable_reason():
        pytest.skip(reason)


def worker(course: Path, student: str) -> dict[str, float]:
    """What the worker that graded the student's submission says of it: its TensorFlow
    threads, its seconds."""
    state = course / ".kerasgrade" / "results" / AID / f"{student}.json"
    return json.loads(state.read_text())["worker"]  # type: ignore[no-any-return]


def test_a_free_worker_takes_the_next_submission_at_once(tmp_path: Path) -> None:
    """Two workers; a long submission, then two short ones, all due when the service starts.
    The long one and the first short one start together; the second short one starts the
    moment the first one's worker is free (before its pages are made), while the long one
    still trains, not when the round would end. Then a lone submission on the idle service
    trains on every core, the others on their worker's share."""
    course = served_course(tmp_path)
    lena, sam, sue, olga = (Student.at(course, n) for n in ("lena", "sam", "sue", "olga"))
    lena.submit(slow_solution())
    sam.submit("dense32")
    sue.submit("solved")
    log = tmp_path / "serve.log"
    proc = start(course, log, workers=2)
    try:
        wait_for(course, proc, log, "released", 3)
        olga.submit("dense32")
        wait_for(course, proc, log, "released", 4)
        assert stop(proc) == 0
    finally:
        proc.kill()
    told = events(course)
    started = {e["student"]: e["time"] for e in told if e["event"] == "started"}
    graded = {e["student"]: e["time"] for e in told if e["event"] == "graded"}
    assert max(started["lena"], started["sam"]) < started["sue"]  # two workers, in order
    # Not before sam's worker was free, nor after: sam's pages and lena's training go on.
    assert started["sam"] + worker(course, "sam")["seconds"] < started["sue"], told
    assert started["sue"] < graded["sam"] < graded["lena"], told
    assert [e["detail"] for e in told if e["event"] == "graded" and e["student"] == "lena"
            ] == ["14/14"]
    assert not [e for e in told if e["event"] == "fault"]
    share = max(1, cores() // 2)
    assert {s: worker(course, s)["threads"] for s in ("lena", "sam", "sue", "olga")} == {
        "lena": share, "sam": share, "sue": share, "olga": cores()}
