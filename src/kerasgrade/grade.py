"""Grade one notebook: STAGES, in order, the way nbgrader's converters run their list of
preprocessors. Each stage takes the value the one before returned and returns the next, a frozen
value that adds its own fields and leaves the ones it was given as they were:

    HandedIn -sanitize-> Read -execute-> Executed -measure-> Measured -check-> Checked
    -report-> SubmissionResult

`Stages` types each step of that chain, so a stage given the wrong value is a type error.
The caller hands the typed `Assignment` spec in (HandedIn.spec), never an id: an id is text that
crosses a process boundary, and each process looks it up once at its door (the front ends with
`frontends.assignment`). Given none, sanitize tells the assignment from the notebook
(`recognise`); every later stage reads the spec (Read.spec). sanitize reads and restores the
notebook (kerasgrade.sanitize). execute and measure run as two jobs of one runner, chosen once
per submission from the options (kerasgrade.jobs.runner): the student's kernel, then the clean
measuring process; check runs the checks on the facts (kerasgrade.checks); report makes the
result every front end reads. A stage that ends the grading early (a file that is not a
notebook, an assignment nobody can tell) raises GradingEnded with its result.

`kerasgrade check`, `kerasgrade grade`, `kerasgrade serve`, `pytest autograder/` and Gradescope
call `grade_notebook`; nbgrader's hidden cells reach the same checks through
frontends/nbgrader/bridge.py.
"""

from __future__ import annotations

import copy
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal, NamedTuple, TypeVar, cast

import nbformat

from kerasgrade import checks, sanitize
from kerasgrade.artifacts import ExecutionFacts, Facts
from kerasgrade.course import assignments, time_limits
from kerasgrade.course.assignments import Assignment
from kerasgrade.course.layout import RELEASE, course_root, private_paths
from kerasgrade.execute.driver import Execution, execute
from kerasgrade.jobs.options import ExecOptions, with_limits
from kerasgrade.jobs.runner import Runner, runner_for
from kerasgrade.measure.client import measurement
from kerasgrade.report import inert
from kerasgrade.results import CheckResult, SubmissionResult


def recognise(path: Path, nb: Any) -> Assignment:
    """Which assignment a notebook is for: its name, its folder, then its content."""
    specs = list(assignments.ASSIGNMENTS.values())
    for part in (path.stem, path.parent.name):
        for spec in specs:
            if spec.id in part:
                return spec
    mine = _grade_ids(nb)
    for spec in specs:
        ids = _grade_ids(_release(spec.id))
        if ids and mine and len(mine & ids) >= len(ids) // 2:
            return spec
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    matched = [(sum(bool(re.search(m, code, re.I)) for m in spec.markers), i, spec)
               for i, spec in enumerate(specs)
               if spec.markers and all(re.search(m, code, re.I) for m in spec.markers)]
    if matched:
        # The most specific wins; on a tie the later lesson, which builds on the earlier.
        return max(matched, key=lambda m: m[:2])[2]
    raise ValueError(
        f"cannot tell which assignment {path.name} is for: name it after the assignment "
        f"(one of {', '.join(assignments.ASSIGNMENTS)}) or pass --assignment"
    )


def _grade_ids(nb: Any) -> set[str]:
    if nb is None:
        return set()
    return {g for c in nb.cells if (g := sanitize.grade_id(c))}


def _release(assignment_id: str, root: Path | None = None) -> Any:
    folder = (root or course_root()) / RELEASE / assignment_id
    path = folder / f"{assignment_id}.ipynb"
    return nbformat.read(path, as_version=4) if path.exists() else None


class GradingEnded(Exception):
    """A stage ended the grading early: its result is the grade, with the reason."""

    def __init__(self, result: SubmissionResult) -> None:
        super().__init__(result.reason)
        self.result = result


@dataclass(frozen=True)
class HandedIn:
    """What the first stage takes: the handed-in file and how to grade it."""

    path: Path
    spec: Assignment | None  # None: recognised from the notebook (sanitize_stage)
    student: str
    options: ExecOptions
    work: Path  # the grader's folder for this submission
    root: Path  # the course, with its release notebooks
    executed_to: Path | None  # where the executed notebook goes (the formgrader shows it)
    jobs: ExitStack  # the runner's jobs stay open until the last stage is done
    started: float


@dataclass(frozen=True)
class Read(HandedIn):
    spec: Assignment  # as handed in, or recognised here; every later stage reads it
    nb: Any  # restored against the release notebook, when it is an nbgrader notebook
    notes: list[str]  # what sanitizing changed, for the student's page


@dataclass(frozen=True)
class Executed(Read):
    runner: Runner
    execution: Execution


@dataclass(frozen=True)
class Measured(Executed):
    facts: Facts
    timings: dict[str, float]


@dataclass(frozen=True)
class Checked(Measured):
    results: list[CheckResult]


T = TypeVar("T")


def _grow(value: HandedIn, cls: type[T], **more: Any) -> T:
    """The next stage's value: every field of this one, and the stage's own (or a new value
    of one it replaces)."""
    return cls(**{f.name: getattr(value, f.name) for f in fields(value)} | more)


def failed_result(spec: Assignment | None, student: str, notebook: str, reason: str,
                  assignment_id: str = "") -> SubmissionResult:
    """A score of zero with the reason on every check of spec (None: an assignment nobody can
    tell, assignment_id as it was named): the batch goes on."""
    checks_ = [CheckResult.fail(c.name, c.points, reason, title=c.title)
               for c in (spec.checks if spec else ())]
    return SubmissionResult(spec.id if spec else assignment_id, student, notebook, "error",
                            reason, checks_)


def sanitize_stage(handed: HandedIn) -> Read:
    """Stage 1: read a private copy (the submitted file is only read, once), restore it, and
    tell its assignment from the notebook when none was handed in."""

    def end(reason: str) -> GradingEnded:
        return GradingEnded(failed_result(handed.spec, handed.student, str(handed.path), reason))

    copy = handed.work / "submitted.ipynb"
    shutil.copyfile(handed.path, copy)
    try:
        read = sanitize.read(copy)
    except sanitize.BadNotebook as exc:
        raise end(str(exc)) from None
    try:
        spec = handed.spec or recognise(handed.path, read.nb)
    except ValueError as exc:
        raise end(str(exc)) from None
    release = _release(spec.id, handed.root)
    if release is not None and sanitize.is_nbgrader_notebook(read.nb):
        read = sanitize.restore(read, release)
    return _grow(handed, Read, spec=spec, nb=read.nb, notes=read.notes)


def execute_stage(read: Read) -> Executed:
    """Stage 2: the student's kernel, the first job of the runner chosen for this submission."""
    runner = runner_for(with_limits(read.options, read.spec), read.work)
    # The notebook's job folder holds the artifacts that measure reads: open until the end.
    job = read.jobs.enter_context(runner.job("notebook"))
    return _grow(read, Executed, runner=runner,
                 execution=execute(read.nb, read.spec, job, runner))


def measure_stage(ran: Executed) -> Measured:
    """Stage 3: the clean measuring process, the runner's second job. Raises GraderFault when
    the grader, not the student, failed."""
    execution = ran.execution
    measured = measurement(execution.artifacts, ran.spec, ran.runner)
    if measured.refused:
        execution = replace(execution, run={
            **execution.run,
            "reason": f"the notebook left files the grader will not read: {measured.refused}"})
    timings = dict(execution.timings)
    if measured.run is not None:
        timings["measure"] = measured.run.seconds
    if started := ran.runner.start_seconds():
        timings["worker_start"] = started
    # The runner's report was checked field by field as it was read (driver._run_report).
    report = cast(ExecutionFacts, {k: v for k, v in execution.run.items() if k != "cell_seconds"})
    facts = time_limits.note_reference({**measured.facts, "execution": report}, ran.spec)
    facts = {**facts, "sanitize_notes": ran.notes}
    return _grow(ran, Measured, execution=execution, facts=facts, timings=timings)


def check_stage(measured: Measured) -> Checked:
    """Stage 4: the checks, pure functions of the facts."""
    return _grow(measured, Checked, results=checks.run_checks(measured.spec, measured.facts))


def report_stage(checked: Checked) -> SubmissionResult:
    """Stage 5: the result every front end reports, and the executed notebook if asked for."""
    if checked.executed_to is not None and checked.execution.executed is not None:
        # The formgrader renders this file: nothing the student's code output may run there.
        # make_inert works in place: on a copy, so the stage's input stays as it was given.
        executed = copy.deepcopy(checked.execution.executed)
        inert.make_inert(executed)
        nbformat.write(executed, checked.executed_to)
    timings = dict(checked.timings, total=time.monotonic() - checked.started)
    return _result(checked.spec.id, checked.student, str(checked.path), checked.facts,
                   checked.results, timings)


class Stages(NamedTuple):
    """The five stages, each typed by the value it takes and the one it returns."""

    sanitize: Callable[[HandedIn], Read]
    execute: Callable[[Read], Executed]
    measure: Callable[[Executed], Measured]
    check: Callable[[Measured], Checked]
    report: Callable[[Checked], SubmissionResult]


STAGES = Stages(sanitize_stage, execute_stage, measure_stage, check_stage, report_stage)


def run_stages(handed: HandedIn, stages: Stages = STAGES) -> SubmissionResult:
    return stages.report(stages.check(stages.measure(stages.execute(stages.sanitize(handed)))))


def _result(assignment_id: str, student: str, notebook: str, facts: Facts,
            results: list[CheckResult], timings: dict[str, float]) -> SubmissionResult:
    status: Literal["graded", "error"] = (
        "graded" if facts.get("model") or facts.get("arrays") else "error")
    reason = facts.get("execution", {}).get("reason", "") if status == "error" else ""
    return SubmissionResult(assignment_id, student, notebook, status, reason, results,
                            facts.get("data_source", ""), timings, facts)


def result_from_facts(spec: Assignment, student: str, notebook: str, facts: Facts
                      ) -> SubmissionResult:
    """The check and report stages on facts measured elsewhere (nbgrader's hidden cells)."""
    return _result(spec.id, student, notebook, facts, checks.run_checks(spec, facts), {})


def grade_notebook(
    path: Path,
    spec: Assignment | None = None,
    student: str = "",
    options: ExecOptions | None = None,
    workdir: Path | None = None,
    root: Path | None = None,
    executed_to: Path | None = None,
) -> SubmissionResult:
    """Run STAGES on one notebook. spec: the assignment, as the caller looked it up (None:
    recognised from the notebook). Raises GraderFault when the grader, not the student,
    failed. executed_to: where to write the executed notebook, when the run left one."""
    root = root or course_root()
    options = replace(options or ExecOptions())  # a copy: the caller's options stay as given
    if not options.hide:
        options.hide = private_paths(root)
    # A file refused before its content is read still belongs to the assignment it names.
    spec = spec or next((a for a in assignments.ASSIGNMENTS.values()
                         if a.id in f"{path.stem} {path.parent.name}"), None)
    started = time.monotonic()
    own_dir = workdir is None
    work = Path(tempfile.mkdtemp(prefix="kerasgrade-")) if workdir is None else workdir
    work.mkdir(parents=True, exist_ok=True)
    try:
        with ExitStack() as jobs:
            handed = HandedIn(path, spec, student, options, work, root, executed_to,
                              jobs, started)
            try:
                result = run_stages(handed)
            except GradingEnded as ended:
                result = ended.result
        return result
    finally:
        if own_dir:
            shutil.rmtree(work, ignore_errors=True)
