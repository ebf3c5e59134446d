"""`pytest autograder/`: the hidden checks as ordinary pytest items.

One item per submission and check. Without options the reference solutions in
solutions/ are graded (proving the course is consistent); `--submission PATH` grades one
notebook, `--submissions DIR` every DIR/<student>/<assignment>/*.ipynb.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kerasgrade import sanitize
from kerasgrade.course import assignments
from kerasgrade.course.assignments import Assignment
from kerasgrade.course.layout import SOLUTIONS, course_root, notebook_path
from kerasgrade.frontends.grader import Grader, GraderFailure
from kerasgrade.grade import failed_result, recognise
from kerasgrade.report import gradescope
from kerasgrade.results import GraderFault, SubmissionResult
from kerasgrade.settings import Kerasgrade

# pytest's own exit codes end at 5 (no tests collected).
SELFTEST_FAILED = 6


@dataclass(frozen=True)
class SubmittedNotebook:
    student: str
    path: Path
    assignment: str  # "" when it cannot be recognised
    problem: str = ""


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("kerasgrade")
    g.addoption("--submission", type=Path, help="grade one notebook")
    g.addoption("--submissions", type=Path,
                help="grade every SUBMISSIONS/<student>/<assignment>/*.ipynb")
    g.addoption("--assignment", help="assignment id, when the notebook's name does not say it")
    g.addoption("--results-json", type=Path,
                help="Gradescope results.json: a file, or a folder with --submissions")
    g.addoption("--feedback", type=Path, help="write an HTML feedback page per submission here")
    g.addoption("--no-sandbox", action="store_true",
                help="run student code without the sandbox (only where it cannot work)")
    g.addoption("--student", default="", help="student name for --submission")


def _describe(path: Path, student: str, assignment: str | None) -> SubmittedNotebook:
    if assignment:
        return SubmittedNotebook(student, path, assignment)
    try:
        return SubmittedNotebook(student, path, recognise(path, sanitize.read(path).nb).id)
    except (ValueError, sanitize.BadNotebook) as exc:
        return SubmittedNotebook(student, path, "", str(exc))


def submissions(config: pytest.Config) -> list[SubmittedNotebook]:
    one = config.getoption("submission")
    many = config.getoption("submissions")
    aid = config.getoption("assignment")
    if one:
        return [_describe(one, config.getoption("student") or one.stem, aid)]
    if many:
        out = []
        for nb in sorted(many.glob("*/*/*.ipynb")):
            if ".ipynb_checkpoints" in nb.parts:
                continue
            out.append(_describe(nb, nb.parent.parent.name, aid or nb.parent.name))
        return out
    root = course_root()
    return [SubmittedNotebook("solution", notebook_path(root / SOLUTIONS, a), a)
            for a in assignments.ASSIGNMENTS
            if notebook_path(root / SOLUTIONS, a).exists()]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "graded_check" not in metafunc.fixturenames:
        return
    params, ids = [], []
    for sub in submissions(metafunc.config):
        grader = metafunc.config._kerasgrade.grader  # type: ignore[attr-defined]
        names = [c.name for c in grader.spec(sub.assignment).checks] if sub.assignment \
            else ["notebook"]
        for name in names:
            params.append((sub, name))
            ids.append(f"{sub.student}/{sub.assignment or sub.path.name}/{name}")
    metafunc.parametrize("graded_check", params, ids=ids)


class Grades:
    """Grades each submission once and hands its results to every item that asks."""

    def __init__(self, config: pytest.Config) -> None:
        self.grader = Grader(Kerasgrade(sandbox=not config.getoption("no_sandbox")),
                             course_root(), in_process=True)
        self.results: dict[Path, SubmissionResult] = {}
        self.faults: dict[Path, GraderFault] = {}

    def spec_of(self, result: SubmissionResult) -> Assignment | None:
        """The assignment of a result graded here (None: one nobody could tell)."""
        return self.grader.spec(result.assignment) if result.assignment else None

    def result(self, sub: SubmittedNotebook) -> SubmissionResult:
        if sub.path not in self.results:
            if sub.path in self.faults:  # every item of that submission errors, graded once
                raise self.faults[sub.path]
            if not sub.assignment:
                res = failed_result(None, sub.student, str(sub.path), sub.problem)
            else:
                try:
                    res = self.grader.grade_here(sub.path, self.grader.spec(sub.assignment),
                                                 sub.student)
                except GraderFault as fault:  # pytest's ERROR, not FAILED
                    self.faults[sub.path] = fault
                    raise
            self.results[sub.path] = res
        return self.results[sub.path]


def pytest_configure(config: pytest.Config) -> None:
    config._kerasgrade = Grades(config)  # type: ignore[attr-defined]


def pytest_collection_finish(session: pytest.Session) -> None:
    """The self-test, once, before any submission is graded: stop if grading cannot work."""
    grades: Grades = session.config._kerasgrade  # type: ignore[attr-defined]
    ids = {item.callspec.params["graded_check"][0].assignment for item in session.items
           if "graded_check" in getattr(item, "fixturenames", ())}
    if ids := sorted(aid for aid in ids if aid):
        try:
            grades.grader.preflight(ids)
        except GraderFailure as exc:
            pytest.exit(str(exc), returncode=SELFTEST_FAILED)


@pytest.fixture
def graded(request: pytest.FixtureRequest, graded_check: tuple[SubmittedNotebook, str]) -> Any:
    sub, name = graded_check
    result = request.config._kerasgrade.result(sub)
    check = next((c for c in result.checks if c.name == name), None)
    return result, check


def pytest_sessionfinish(session: pytest.Session) -> None:
    grades: Grades | None = getattr(session.config, "_kerasgrade", None)
    if grades is None or not grades.results:
        return
    target = session.config.getoption("results_json")
    if target:
        if session.config.getoption("submissions"):
            for res in grades.results.values():
                gradescope.write(res, grades.spec_of(res),
                                 target / res.student / f"{res.assignment}.json")
        else:
            res = next(iter(grades.results.values()))
            gradescope.write(res, grades.spec_of(res), target)
    feedback_dir = session.config.getoption("feedback")
    if feedback_dir:
        from kerasgrade.report import feedback

        for res in grades.results.values():
            feedback.write_page(res, grades.spec_of(res),
                                feedback_dir / res.student / f"{res.assignment}.html")
