"""The recorded runs (tests/fixtures/facts/, written by scripts/record_facts.py), for the fast
tier: every test here runs the real checks on facts a real graded run measured, no training."""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

from kerasgrade import checks
from kerasgrade.artifacts import Facts
from kerasgrade.course import assignments
from kerasgrade.results import CheckResult

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "facts"
SOLUTION = "solution"


@functools.cache
def _read(assignment_id: str, case: str) -> dict[str, Any]:
    return json.loads((FIXTURES / assignment_id / f"{case}.json").read_text())


def record(assignment_id: str, case: str = SOLUTION) -> dict[str, Any]:
    """A fresh copy of one recorded run: the facts, data source, scores and messages."""
    return copy.deepcopy(_read(assignment_id, case))


def facts(assignment_id: str, case: str = SOLUTION) -> Facts:
    """A fresh copy of the facts of one recorded run, for a test to edit."""
    return record(assignment_id, case)["facts"]


def recorded_cases() -> list[tuple[str, str]]:
    return sorted((p.parent.name, p.stem) for p in FIXTURES.glob("*/*.json"))


def run(assignment_id: str, facts_: Facts) -> dict[str, CheckResult]:
    """Every check of the assignment on these facts, by name, as the grader runs them."""
    return {r.name: r for r in checks.run_checks(assignments.get(assignment_id), facts_)}


def check(assignment_id: str, name: str, facts_: Facts) -> CheckResult:
    return checks.run_one(assignments.get(assignment_id), name, facts_)
