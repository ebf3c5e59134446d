"""The course's gradebook as the LMS sees it: a student's score on an assignment (late
penalty taken off, as `nbgrader export` does), and the LMS's roster into the gradebook."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from nbgrader.api import Gradebook, MissingEntry

from kerasgrade.course import assignments
from kerasgrade.lti import nrps
from kerasgrade.lti.outbox import Score
from kerasgrade.lti.settings import KerasgradeLti, LtiProblem, student_id


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


def score(gb: Gradebook, lti: KerasgradeLti, assignment: str, student: str,
          when: datetime | None = None) -> Score | None:
    """The score to send, or None when the student has no submission of the assignment."""
    try:
        sub = gb.find_submission(assignment, student)
    except MissingEntry:
        return None
    spec = assignments.ASSIGNMENTS.get(assignment)
    penalty = float(sub.late_submission_penalty or 0.0)
    given = round(max(0.0, float(sub.score) - penalty), 4)
    maximum = float(sub.max_score)
    # An assignment with written answers waits for the formgrader's grade (nbgrader flags it).
    pending = bool(spec is not None and spec.manual and sub.needs_manual_grade)
    return Score(
        student=student, assignment=assignment,
        user=gb.find_student(student).lms_user_id or "", given=given, maximum=maximum,
        pending_manual=pending,
        comment=_comment(lti, student, assignment, given, maximum, penalty, pending),
        timestamp=(when or datetime.now(UTC)).isoformat(timespec="milliseconds"),
        label=spec.title if spec is not None else assignment)


@dataclass
class RosterChange:
    students: list[str] = field(default_factory=list)
    others: list[str] = field(default_factory=list)  # instructors and other roles, not added
    unusable: list[str] = field(default_factory=list)  # no id by the rule: why


def import_roster(gb: Gradebook, lti: KerasgradeLti, members: list[dict[str, Any]]
                  ) -> RosterChange:
    """The LMS's active learners as the gradebook's students (id by c.KerasgradeLti.user_id,
    names, e-mail, the LMS's user id); the other members are reported, not added."""
    change = RosterChange()
    for member in members:
        if not nrps.is_active(member):
            continue
        try:
            sid = student_id(lti.user_id, member)
        except LtiProblem as exc:
            change.unusable.append(str(exc))
            continue
        if sid in change.students:
            change.unusable.append(f"two LMS users map to the student id {sid} "
                                   f"(c.KerasgradeLti.user_id = {lti.user_id!r}): the second, "
                                   f"{member.get('user_id')}, is left out; choose another rule")
            continue
        if not nrps.is_learner(member):
            roles = ", ".join(str(r).rsplit("#", 1)[-1] for r in member.get("roles") or [])
            change.others.append(f"{sid} ({roles or 'no role'})")
            continue
        gb.update_or_create_student(
            sid, first_name=str(member.get("given_name") or ""),
            last_name=str(member.get("family_name") or ""),
            email=str(member.get("email") or "") or None,
            lms_user_id=str(member.get("user_id") or ""))
        change.students.append(sid)
    return change
