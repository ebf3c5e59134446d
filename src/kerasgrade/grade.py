"""Grade one notebook, the five stages in order: sanitize -> execute -> measure -> check ->
report (the SubmissionResult).

Stage 1 reads and restores the notebook (kerasgrade.sanitize); stages 2 and 3 run as two jobs
of one runner, chosen once from the options (kerasgrade.jobs.runner): the student's kernel,
then the clean measuring process; stage 4 runs the checks on the facts (kerasgrade.checks);
stage 5 is the result every front end reads and reports.

`kerasgrade check`, `kerasgrade grade`, `kerasgrade serve`, `pytest autograder/` and Gradescope
call `grade_notebook`; nbgrader's hidden cells reach the same checks through
frontends/nbgrader/bridge.py.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import nbformat

from kerasgrade import checks, sanitize
from kerasgrade.artifacts import Facts
from kerasgrade.course import assignments
from kerasgrade.course.layout import RELEASE, course_root, private_paths
from kerasgrade.execute.driver import Execution, execute
from kerasgrade.jobs.options import ExecOptions, with_limits
from kerasgrade.jobs.runner import runner_for
from kerasgrade.measure.client import measure
from kerasgrade.report import inert
from kerasgrade.results import CheckResult, SubmissionResult


def recognise(path: Path, nb: Any) -> str:
    """Which assignment a notebook is for: its name, its folder, then its content."""
    for part in (path.stem, path.parent.name):
        for aid in assignments.ASSIGNMENTS:
            if aid in part:
                return aid
    release_ids = {aid: _grade_ids(_release(aid)) for aid in assignments.ASSIGNMENTS}
    mine = _grade_ids(nb)
    for aid, ids in release_ids.items():
        if ids and mine and len(mine & ids) >= len(ids) // 2:
            return aid
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    matched = {aid: sum(bool(re.search(m, code, re.I)) for m in spec.markers)
               for aid, spec in assignments.ASSIGNMENTS.items()
               if spec.markers and all(re.search(m, code, re.I) for m in spec.markers)}
    if matched:
        # The most specific wins; on a tie the later lesson, which builds on the earlier.
        return max(reversed(matched), key=matched.__getitem__)
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


def failed_result(assignment_id: str, student: str, notebook: str, reason: str
                  ) -> SubmissionResult:
    """A score of zero with the reason on every check: the batch goes on."""
    spec = assignments.ASSIGNMENTS.get(assignment_id)
    checks_ = [CheckResult.fail(c.name, c.points, reason, title=c.title)
               for c in (spec.checks if spec else ())]
    return SubmissionResult(assignment_id, student, notebook, "error", reason, checks_)


def result_from_facts(assignment_id: str, student: str, notebook: str, facts: Facts,
                      timings: dict[str, float] | None = None) -> SubmissionResult:
    """The checks run on measured facts: how every front end turns facts into a grade."""
    results = checks.run_checks(assignment_id, facts)
    status = "graded" if facts.get("model") or facts.get("arrays") else "error"
    reason = facts.get("execution", {}).get("reason", "") if status == "error" else ""
    return SubmissionResult(assignment_id, student, notebook, status, reason, results,
                            facts.get("data_source", ""), timings or {}, facts)


def execute_and_measure(nb: Any, assignment_id: str, options: ExecOptions, workdir: Path
                        ) -> tuple[Execution, Facts]:
    """Stages 2 and 3, two jobs of one runner: the facts, with how the run went under
    "execution". Raises GraderFault when the grader, not the student, failed."""
    runner = runner_for(with_limits(options, assignment_id), workdir)
    with runner.job("notebook") as job:
        ran = execute(nb, assignment_id, job, runner)
        measured = measure(ran.artifacts, assignment_id, runner)
    if measured.refused:
        ran.run["reason"] = f"the notebook left files the grader will not read: {measured.refused}"
    if measured.run is not None:
        ran.timings["measure"] = measured.run.seconds
    facts = measured.facts
    facts["execution"] = {k: v for k, v in ran.run.items() if k != "cell_seconds"}
    return ran, facts


def grade_notebook(
    path: Path,
    assignment_id: str | None = None,
    student: str = "",
    options: ExecOptions | None = None,
    workdir: Path | None = None,
    root: Path | None = None,
    executed_to: Path | None = None,
) -> SubmissionResult:
    """executed_to: where to write the executed notebook (the formgrader shows it), when the
    run left one."""
    root = root or course_root()
    options = replace(options or ExecOptions())  # a copy: the caller's options stay as given
    if not options.hide:
        options.hide = private_paths(root)
    # A file refused before its content is read still belongs to the assignment it names.
    assignment_id = assignment_id or next(
        (a for a in assignments.ASSIGNMENTS if a in f"{path.stem} {path.parent.name}"), None)
    started = time.monotonic()
    own_dir = workdir is None
    work = Path(tempfile.mkdtemp(prefix="kerasgrade-")) if own_dir else workdir
    work.mkdir(parents=True, exist_ok=True)
    try:
        # Grade a private copy: the submitted file is only read, once.
        copy = work / "submitted.ipynb"
        shutil.copyfile(path, copy)
        try:
            sub = sanitize.read(copy)
        except sanitize.BadNotebook as exc:
            return failed_result(assignment_id or "", student, str(path), str(exc))
        try:
            aid = assignment_id or recognise(path, sub.nb)
            assignments.get(aid)
        except (ValueError, KeyError) as exc:
            return failed_result(assignment_id or "", student, str(path), str(exc).strip("'\""))
        release = _release(aid, root)
        if release is not None and sanitize.is_nbgrader_notebook(sub.nb):
            sub = sanitize.restore(sub, release)
        ran, facts = execute_and_measure(sub.nb, aid, options, work)
        if executed_to is not None and ran.executed is not None:
            # The formgrader renders this file: nothing the student's code output may run there.
            inert.make_inert(ran.executed)
            nbformat.write(ran.executed, executed_to)
        facts["sanitize_notes"] = sub.notes
        timings = dict(ran.timings, total=time.monotonic() - started)
        return result_from_facts(aid, student, str(path), facts, timings)
    finally:
        if own_dir:
            shutil.rmtree(work, ignore_errors=True)
