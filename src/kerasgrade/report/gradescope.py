"""Gradescope's results.json, made from a SubmissionResult (`kerasgrade grade` leaves one per
student, `pytest autograder/ --results-json` and the Gradescope front end write it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kerasgrade.course.assignments import Assignment
from kerasgrade.results import SubmissionResult


def results_json(result: SubmissionResult, spec: Assignment | None) -> dict[str, Any]:
    """score, max_score, one entry per test with the visibility the result's assignment (spec;
    None: one nobody could tell) gives its check, and the measured figures for the
    leaderboard."""
    visibility = {c.name: c.visibility for c in spec.checks} if spec else {}
    out: dict[str, Any] = {
        "score": result.score,
        "max_score": result.max_score,
        "visibility": "visible",
        "tests": [
            {
                "name": c.title or c.name,
                "score": c.points,
                "max_score": c.max_points,
                "output": c.text(),
                "visibility": visibility.get(c.name, "visible"),
                "status": "passed" if c.passed else "failed",
            }
            for c in result.checks
        ],
    }
    lines = []
    if result.status == "error":
        lines.append(f"Grading error: {result.reason}")
    elif result.data_source:
        lines.append(f"Graded on data source: {result.data_source}")
    if note := result.late_note():
        lines.append(note)
    if lines:
        out["output"] = "\n".join(lines)
    evaluation = result.facts.get("evaluation") or {}
    board = [{"name": b.name, "value": round(value, 4), "order": b.order}
             for b in (spec.leaderboard if spec else ())
             if isinstance(value := evaluation.get(b.key), float)]
    if board and result.status == "graded":
        out["leaderboard"] = board
    return out


def write(result: SubmissionResult, spec: Assignment | None, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results_json(result, spec), indent=2))
