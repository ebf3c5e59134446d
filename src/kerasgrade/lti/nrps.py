"""Names and Role Provisioning Services: the course's members, every page."""

from __future__ import annotations

from typing import Any

from kerasgrade.lti.client import Lms

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
