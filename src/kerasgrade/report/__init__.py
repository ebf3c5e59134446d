"""Stage 5: everything made from the result schema (kerasgrade.results): pages, gradebook, CSV."""

from __future__ import annotations

from kerasgrade.course import assignments
from kerasgrade.course.assignments import Assignment
from kerasgrade.results import SubmissionResult


def spec_of(assignment_id: str) -> Assignment | None:
    """The assignment a stored result or a report names by id, looked up here for every page,
    results.json and the class report. None: an id nobody could tell, or an assignment the
    course no longer has."""
    return assignments.ASSIGNMENTS.get(assignment_id)


def assignment_of(result: SubmissionResult) -> Assignment | None:
    """The assignment a result is for (a stored result keeps only its id)."""
    return spec_of(result.assignment)
