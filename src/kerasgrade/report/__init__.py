"""Stage 5: everything made from the result schema (kerasgrade.results): pages, gradebook, CSV."""

from __future__ import annotations

from kerasgrade.course import assignments
from kerasgrade.course.assignments import Assignment
from kerasgrade.results import SubmissionResult


def assignment_of(result: SubmissionResult) -> Assignment | None:
    """The assignment a result is for, as the pages and results.json read it: a stored result
    keeps only its id. None: a file refused before it was read, or an assignment the course no
    longer has."""
    return assignments.ASSIGNMENTS.get(result.assignment)
