"""Checks as pure functions: facts (measured in a clean process) -> CheckResult."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kerasgrade.checks import connected_networks, fashion_classifier, preparing_data
from kerasgrade.course import assignments
from kerasgrade.report.results import CheckResult

CheckFn = Callable[[dict[str, Any], assignments.Assignment, assignments.CheckSpec], CheckResult]

REGISTRY: dict[str, dict[str, CheckFn]] = {
    assignments.PREPARING_DATA: preparing_data.CHECKS,
    assignments.CONNECTED_NETWORKS: connected_networks.CHECKS,
    assignments.FASHION_CLASSIFIER: fashion_classifier.CHECKS,
}


def run_one(assignment_id: str, check_name: str, facts: dict[str, Any]) -> CheckResult:
    spec = assignments.get(assignment_id)
    cs = spec.check(check_name)
    fn = REGISTRY[assignment_id][check_name]
    try:
        return fn(facts, spec, cs)
    except Exception as exc:  # a check never crashes a grade: the facts were unexpected
        return CheckResult.fail(cs.name, cs.points,
                                f"This check could not read your submission ({type(exc).__name__}:"
                                f" {exc}).", "run every cell from top to bottom and keep the "
                                "variable names the assignment asks for", cs.title)


def run_checks(assignment_id: str, facts: dict[str, Any]) -> list[CheckResult]:
    return [run_one(assignment_id, c.name, facts) for c in assignments.get(assignment_id).checks]
