"""The course's gradebook as the LMS sees it: a student's score on an assignment (late
penalty taken off, as `nbgrader export` does)."""

from __future__ import annotations

from datetime import UTC, datetime

from nbgrader.api import Gradebook, MissingEntry

from kerasgrade.course.assignments import Assignment
from kerasgrade.lti.outbox import Score
from kerasgrade.lti.settings import KerasgradeLti


def _comment(lti: KerasgradeLti, student: str, assignment: str, given: float, maximum: float,
             penalty: float, pending: bool) -> str:
    parts = [f"kerasgrade: {given:g}/{maximum:g}."]
    if penalty:
        parts.append(f"Late penalty: {penalty:g} points taken off.")
    if pending:
        parts.append("The written answers are still to be graded by hand.")
    link = lti.feedback_url.format(student=student, assignment=assignment)
    parts.append(f"Feedback: {link}" if link else
                 f"Feedback: in the course's Jupyter, Assignments, {assignment}, fetch feedback.")
    return " ".join(parts)


def score(gb: Gradebook, lti: KerasgradeLti, spec: Assignment, student: str,
          when: datetime | None = None) -> Score | None:
    """The score to send, or None when the student has no submission of the assignment."""
    try:
        sub = gb.find_submission(spec.id, student)
    except MissingEntry:
        return None
    penalty = float(sub.late_submission_penalty or 0.0)
    given = round(max(0.0, float(sub.score) - penalty), 4)
    maximum = float(sub.max_score)
    # An assignment with written answers waits for the formgrader's grade (nbgrader flags it).
    pending = bool(spec.manual and sub.needs_manual_grade)
    return Score(
        student=student, assignment=spec.id,
        user=gb.find_student(student).lms_user_id or "", given=given, maximum=maximum,
        pending_manual=pending,
        comment=_comment(lti, student, spec.id, given, maximum, penalty, pending),
        timestamp=(when or datetime.now(UTC)).isoformat(timespec="milliseconds"),
        label=spec.title)
