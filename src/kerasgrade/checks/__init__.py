"""Checks as pure functions: facts (measured in a clean process) -> CheckResult."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from kerasgrade.artifacts import Facts
from kerasgrade.course import assignments
from kerasgrade.results import CheckResult, GraderFault

CheckFn = Callable[[Facts, assignments.Assignment, assignments.CheckSpec], CheckResult]


def registry(spec: assignments.Assignment) -> dict[str, CheckFn]:
    """The assignment's checks module (named in its spec): check name -> function."""
    return importlib.import_module(f"kerasgrade.checks.{spec.module}").CHECKS


def run_one(spec: assignments.Assignment, check_name: str, facts: Facts) -> CheckResult:
    cs = spec.check(check_name)
    fn = registry(spec)[check_name]
    try:
        return fn(facts, spec, cs)
    except GraderFault:
        raise  # never the student's score
    except Exception as exc:  # a check never crashes a grade: the facts were unexpected
        return CheckResult.fail(cs.name, cs.points,
                                f"This check could not read your submission ({type(exc).__name__}:"
                                f" {exc}).", "run every cell from top to bottom and keep the "
                                "variable names the assignment asks for", cs.title)


def run_checks(spec: assignments.Assignment, facts: Facts) -> list[CheckResult]:
    return [run_one(spec, c.name, facts) for c in spec.checks]
