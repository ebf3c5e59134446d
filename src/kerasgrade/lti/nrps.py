"""Names and Role Provisioning Services: the course's members, every page, and the learners
among them into nbgrader's gradebook."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbgrader.api import Gradebook

from kerasgrade.lti.client import Lms
from kerasgrade.lti.context import memberships_url
from kerasgrade.lti.settings import KerasgradeLti, LtiProblem, student_id
from kerasgrade.report.gradebook import CourseSettings

MEDIA = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
LEARNER = "#Learner"  # membership#Learner: the role URI of Canvas, Moodle and the spec


def members(lms: Lms, url: str) -> list[dict[str, Any]]:
    return [m for page in lms.pages(url, MEDIA) if isinstance(page, dict)
            for m in page.get("members", []) if isinstance(m, dict)]


def is_learner(member: dict[str, Any]) -> bool:
    return any(str(role).endswith(LEARNER) or role == "Learner"
               for role in member.get("roles") or [])


def is_active(member: dict[str, Any]) -> bool:
    return member.get("status", "Active") == "Active"


@dataclass
class RosterChange:
    students: list[str] = field(default_factory=list)
    others: list[str] = field(default_factory=list)  # instructors and other roles, not added
    unusable: list[str] = field(default_factory=list)  # no id by the rule: why

    def lines(self) -> list[str]:
        return ([f"{len(self.students)} student(s) in the gradebook: "
                 + ", ".join(self.students)]
                + [f"not a student, not added: {other}" for other in self.others]
                + [f"left out: {line}" for line in self.unusable])


def import_roster(gb: Gradebook, lti: KerasgradeLti, members: list[dict[str, Any]]
                  ) -> RosterChange:
    """The LMS's active learners as the gradebook's students (id by c.KerasgradeLti.user_id,
    names, e-mail, the LMS's user id); the other members are reported, not added."""
    change = RosterChange()
    for member in members:
        if not is_active(member):
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
        if not is_learner(member):
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


def refresh(root: Path, lti: KerasgradeLti, lms: Lms, course: CourseSettings) -> RosterChange:
    """The LMS course's members read now, its learners into the gradebook."""
    found = members(lms, memberships_url(root, lti))
    with course.open() as gb:
        return import_roster(gb, lti, found)
