"""`kerasgrade grade`: real batches of real notebooks, a local pool and a real Dask cluster.

Each class is small (two notebooks that train, one that is not JSON), graded by the command
a teacher types, then read back through nbgrader's own gradebook and `nbgrader export`.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import psutil
import pytest
from browser import chromium
from classroom import AID, EXPECTED, grade, gradebook_scores, make_course, state
from lab_server import free_port, jupyterlab
from nbgrader.api import Gradebook

from kerasgrade.course import assignments
from kerasgrade.report import gradebook
from kerasgrade.results import CheckResult, SubmissionResult

pytestmark = pytest.mark.slow  # batches that train; even an empty gradebook takes seconds

STARTUP_SECONDS = 60


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    root = make_course(tmp_path_factory.mktemp("course"))
    return root, grade(root, "--workers", "2")


def test_batch_writes_every_report(course: tuple[Path, subprocess.CompletedProcess]) -> None:
    root, proc = course
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "graded 2, failed 1, skipped 0, grader failures 0" in proc.stdout
    with (root / "kerasgrade-grades.csv").open() as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    assert {s: float(r["score"]) for s, r in rows.items()} == EXPECTED
    assert rows["carol"]["status"] == "error"
    assert {r["late_penalty"] for r in rows.values()} == {"0"}  # no due date
    assert not (root / "feedback").exists()  # nbgrader's generate_feedback writes there
    assert "not valid notebook JSON" in rows["carol"]["reason"]
    for student, score in EXPECTED.items():
        folder = root / "reports" / student / AID
        gradescope = json.loads((folder / "results.json").read_text())
        assert gradescope["score"] == score and gradescope["max_score"] == 14
        assert (folder / "feedback.html").stat().st_size > 0
        stored = json.loads(state(root, student).read_text())
        assert stored["result"]["score"] == score and len(stored["notebook_sha256"]) == 64
    bob = json.loads(state(root, "bob").read_text())
    assert bob["worker"]["threads"] == 1 and bob["worker"]["slot"] >= 1
    arch = next(t for t in json.loads((root / "reports/bob" / AID / "results.json").read_text())
                ["tests"] if t["name"].startswith("Layers"))
    assert arch["score"] == 0 and "25,450" in arch["output"]


def test_gradebook_and_nbgrader_export(course: tuple[Path, subprocess.CompletedProcess],
                                       tmp_path: Path) -> None:
    root, _ = course
    assert gradebook_scores(root) == EXPECTED
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        grades = {g.name: g for g in gb.find_submission_notebook(AID, AID, "bob").grades}
        assert grades["architecture"].auto_score == 0 and grades["epochs"].auto_score == 1
        assert not any(g.needs_manual_grade for g in grades.values())
    out = tmp_path / "export.csv"
    subprocess.run([sys.executable, "-m", "nbgrader", "export", "--to", str(out)], cwd=root,
                   check=True, capture_output=True)
    with out.open() as f:
        exported = {r["student_id"]: r for r in csv.DictReader(f)}
    assert {s: float(r["score"]) for s, r in exported.items()} == EXPECTED
    assert {r["max_score"] for r in exported.values()} == {"14.0"}


def test_unchanged_skipped_and_force_regrades(
        course: tuple[Path, subprocess.CompletedProcess]) -> None:
    root, _ = course
    before = {s: state(root, s).stat().st_mtime_ns for s in EXPECTED}
    again = grade(root)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "graded 0, failed 0, skipped 3" in again.stdout
    assert "self-test" not in again.stdout  # nothing to grade: no kernel was started
    assert {s: state(root, s).stat().st_mtime_ns for s in EXPECTED} == before
    forced = grade(root, "--force", "--workers", "2")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert "graded 2, failed 1, skipped 0" in forced.stdout
    assert "self-test passed" in forced.stdout
    assert all(state(root, s).stat().st_mtime_ns > before[s] for s in EXPECTED)
    assert gradebook_scores(root) == EXPECTED


def test_resume_after_killed_run(tmp_path: Path) -> None:
    root = make_course(tmp_path, ("alice", "bob"))
    log = (tmp_path / "run.log").open("w")
    run = subprocess.Popen([sys.executable, "-m", "kerasgrade", "grade", AID, "--root",
                            str(root), "--workers", "1"], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while not state(root, "alice").exists():
        assert run.poll() is None and time.monotonic() < deadline, "no first result"
        time.sleep(0.2)
    descendants = psutil.Process(run.pid).children(recursive=True)
    run.send_signal(signal.SIGKILL)
    run.wait()
    # The pool worker, its sandbox and kernel die with the killed grader.
    _, alive = psutil.wait_procs(descendants, timeout=15)
    assert not alive, [p.cmdline() for p in alive]
    assert not state(root, "bob").exists()
    first = state(root, "alice").read_bytes(), state(root, "alice").stat().st_mtime_ns

    rerun = grade(root, "--workers", "1")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "1 to grade" in rerun.stdout and "graded 1, failed 0, skipped 1" in rerun.stdout
    assert (state(root, "alice").read_bytes(), state(root, "alice").stat().st_mtime_ns) == first
    assert gradebook_scores(root) == {"alice": 14.0, "bob": 11.0}


@pytest.fixture
def dask_cluster(tmp_path: Path) -> Iterator[str]:
    """A real scheduler and two single-threaded worker processes on the loopback."""
    from distributed import Client

    address = f"tcp://127.0.0.1:{free_port()}"
    dask = shutil.which("dask") or pytest.fail("the dask command is not installed")
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port",
                               address.rsplit(":", 1)[1], "--no-dashboard"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        for i in range(2):
            procs.append(subprocess.Popen(
                [dask, "worker", address, "--host", "127.0.0.1", "--nworkers", "1",
                 "--nthreads", "1", "--no-dashboard", "--local-directory", str(tmp_path / f"w{i}")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        with Client(address, timeout=STARTUP_SECONDS) as client:
            client.wait_for_workers(2, timeout=STARTUP_SECONDS)
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_dask_cluster_gives_the_local_scores(
        dask_cluster: str, course: tuple[Path, subprocess.CompletedProcess],
        tmp_path: Path) -> None:
    local_root, _ = course
    root = make_course(tmp_path / "course")
    proc = grade(root, "--scheduler", dask_cluster)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "on the Dask cluster" in proc.stdout
    assert gradebook_scores(root) == gradebook_scores(local_root) == EXPECTED
    workers = {json.loads(state(root, s).read_text())["worker"]["pid"] for s in ("alice", "bob")}
    slots = {json.loads(state(root, s).read_text())["worker"]["slot"] for s in ("alice", "bob")}
    assert len(workers) == len(slots) == 2, "both Dask workers graded, in separate sandboxes"
    for student in EXPECTED:
        local = json.loads(state(local_root, student).read_text())["result"]["checks"]
        assert json.loads(state(root, student).read_text())["result"]["checks"] == local


# ---------------------------------------------------------------------------------------
# The gradebook writer alone (no grading)


def _result(student: str, points: dict[str, float]) -> SubmissionResult:
    checks = [CheckResult(name, points.get(name, 0.0), max_points, name in points, "")
              for name, max_points in (("epochs", 1.0), ("architecture", 3.0),
                                       ("activations", 2.0), ("compile_settings", 2.0),
                                       ("test_accuracy", 3.0), ("test_evaluation", 1.0),
                                       ("saved_model", 2.0))]
    return SubmissionResult(AID, student, f"{AID}.ipynb", "graded", "", checks)


def test_gradebook_keeps_manual_scores_and_refuses_other_cells(tmp_path: Path) -> None:
    root = make_course(tmp_path, ())
    release = root / "assignments" / AID / f"{AID}.ipynb"
    settings = gradebook.course_settings(root)
    with gradebook.GradebookWriter(settings) as book:
        notebook = book.ensure_assignment(assignments.get(AID), release)
        book.record(_result("ann", {"epochs": 1.0}), notebook)
        grade_ = book.gb.find_grade("architecture", notebook, AID, "ann")
        grade_.manual_score = 2.5
        book.gb.db.commit()
        book.record(_result("ann", {"epochs": 1.0, "architecture": 3.0}), notebook)
        grade_ = book.gb.find_grade("architecture", notebook, AID, "ann")
        assert (grade_.auto_score, grade_.manual_score, grade_.needs_manual_grade) == (3, 2.5, True)
        assert book.gb.find_submission(AID, "ann").score == 1 + 2.5
        book.gb.find_grade_cell("epochs", notebook, AID).max_score = 5
        book.gb.db.commit()
        with pytest.raises(gradebook.GradebookMismatch, match="epochs=5"):
            book.ensure_assignment(assignments.get(AID), release)


def test_formgrader_shows_each_graded_notebook(
        course: tuple[Path, subprocess.CompletedProcess]) -> None:
    """The executed notebook lies where nbgrader's formgrader looks, without the grader's
    cells, with the student's outputs, and its grade cells are the gradebook's."""
    from nbconvert import HTMLExporter
    from nbgrader.server_extensions.formgrader import handlers

    root, _ = course
    exporter = HTMLExporter(template_name="formgrade",
                            extra_template_basedirs=[handlers.template_path])
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for student in ("alice", "bob"):
            nb = nbformat.read(root / "autograded" / student / AID / f"{AID}.ipynb", 4)
            assert not [c for c in nb.cells if "kerasgrade" in c.metadata]
            fit = next(c for c in nb.cells if c.cell_type == "code" and ".fit(" in c.source)
            assert "Epoch 10/10" in "".join(o.get("text", "") for o in fit.outputs)
            cells = {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
                     if c.metadata.get("nbgrader", {}).get("grade")}
            recorded = {g.name for g in gb.find_submission_notebook(AID, AID, student).grades}
            assert cells and cells <= recorded
            html, _ = exporter.from_notebook_node(nb, resources={
                "assignment_id": AID, "notebook_id": AID, "submission_id": student,
                "index": 0, "total": 1, "base_url": "", "student": student, "last_name": None,
                "first_name": None, "notebook_path": "autograded"})
            assert "Epoch 10/10" in html
    # carol's file was refused before it ran: there is no notebook to show
    assert not (root / "autograded" / "carol" / AID / f"{AID}.ipynb").exists()


@pytest.mark.browser
def test_formgrader_page_lists_and_shows_the_grades(
        course: tuple[Path, subprocess.CompletedProcess], tmp_path: Path) -> None:
    """The instructor's view, live: nbgrader's formgrader in JupyterLab, in Chromium, lists the
    batch's scores and opens a graded notebook with its cells' scores filled in."""
    expect = pytest.importorskip("playwright.sync_api").expect
    root, _ = course
    with jupyterlab(root, tmp_path) as server, \
            chromium(viewport={"width": 1280, "height": 900}) as browser:
        page = browser.new_page()
        # The formgrader's own requests carry no token: the header logs in every one of them.
        page.set_extra_http_headers({"Authorization": f"token {server.token}"})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{server.url}/formgrader/gradebook/{AID}/{AID}")
        rows = page.locator("tbody tr", has=page.locator("td.score"))
        expect(rows).to_have_count(2, timeout=STARTUP_SECONDS * 1000)  # carol: nothing to show
        scores = sorted(rows.locator("td.score").all_text_contents())
        assert scores == ["11 / 14", "14 / 14"], scores

        rows.filter(has_text="11 / 14").locator("td.name a").first.click()
        page.wait_for_url("**/formgrader/submissions/**")
        expect(page.get_by_text("Epoch 10/10").first).to_be_attached()
        # Each graded cell's input shows its automatic score as the placeholder (the value
        # is left for a manual score).
        inputs = page.locator("input.score")
        expect(inputs.first).to_have_attribute("placeholder", re.compile(r"\d"), timeout=30_000)
        auto = {i.get_attribute("id"): float(i.get_attribute("placeholder") or "nan")
                for i in inputs.all()}
        assert sum(auto.values()) == EXPECTED["bob"], auto
        assert auto["architecture"] == 0, auto  # the Dense(32) mistake
        # nbgrader's formgrade page loads MathJax from a CDN this offline machine cannot reach.
        assert [e for e in errors if e != "MathJax is not defined"] == [], errors


def test_written_answers_wait_for_the_teacher_in_the_gradebook(tmp_path: Path) -> None:
    """04's three manually graded answer cells: registered from the release with their points,
    never auto-scored; the gradebook's score is the autograded part until formgrader adds
    the rest. The checks run on a recorded real run (tests/fixtures/facts/)."""
    from kerasgrade.checks import run_checks
    from kerasgrade.course import assignments

    aid = assignments.IMPROVING_NETWORK
    spec = assignments.get(aid)
    release = tmp_path / "assignments" / aid / f"{aid}.ipynb"
    release.parent.mkdir(parents=True)
    shutil.copy(Path(__file__).resolve().parents[2] / "assignments" / aid / release.name,
                release)
    recorded = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "facts" / aid /
                           "table-from-training-images.json").read_text())
    result = SubmissionResult(aid, "ann", release.name, "graded", "",
                              run_checks(spec, recorded["facts"]))
    with gradebook.GradebookWriter(gradebook.course_settings(tmp_path)) as book:
        notebook = book.ensure_assignment(assignments.get(aid), release)
        book.record(result, notebook)
        grades = {g.name: (g.auto_score, g.needs_manual_grade, g.max_score)
                  for g in book.gb.find_submission_notebook(notebook, aid, "ann").grades}
        assert {n: g for n, g in grades.items() if n in {c.name for c in spec.manual}} == {
            c.name: (None, True, c.points) for c in spec.manual}
        assert grades["results_table"] == (0, False, 2)
        assert book.gb.find_submission(aid, "ann").score == 10
        assert book.gb.find_submission(aid, "ann").max_score == 12 + 5


def test_a_folder_name_writes_nothing_but_text_to_the_terminal(tmp_path: Path) -> None:
    """A student id is a folder's name: an escape sequence or a line break in it reaches the
    instructor's terminal escaped, and forges no line (no notebook: nothing runs)."""
    root = make_course(tmp_path, ())
    forged = "mallory\x1b]0;pwned\x07\nalice: 14 graded"  # no "/": one folder
    (root / "submitted" / forged / AID).mkdir(parents=True)
    proc = grade(root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "\x1b" not in proc.stdout and "\x07" not in proc.stdout
    assert ("submitted/mallory\\x1b]0;pwned\\x07\\nalice: 14 graded is left out: its name is "
            "not a student id" in proc.stdout)
    assert not [line for line in proc.stdout.splitlines() if line.startswith("alice")]


def test_a_gradebook_locked_by_another_program_stops_the_batch_in_one_line(
        tmp_path: Path) -> None:
    root = make_course(tmp_path, ())
    (root / "submitted").mkdir()  # nobody has handed in yet
    Gradebook(f"sqlite:///{root / 'gradebook.db'}").close()
    holder = sqlite3.connect(root / "gradebook.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # as a formgrader mid-write, or a sqlite3 shell
    try:
        proc = grade(root)
    finally:
        holder.close()
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert ("kerasgrade grade: stopped, the gradebook could not be used: "
            "sqlite3.OperationalError: database is locked." in proc.stdout)
    assert "Traceback" not in proc.stdout + proc.stderr
