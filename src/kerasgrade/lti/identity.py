"""The one rule that names an LMS user on the hub and in nbgrader's gradebook.

A launch's id_token and a Names and Role Provisioning member carry a user's identity under
different keys; both are read into the same few fields, and one configured rule picks the
field that becomes the hub user and the nbgrader student id (docs/lti.md, *Who is who*):

  sub               the LMS's own user id (always present, stable, often opaque)
  email             the whole email address
  email_local       the part of the email address before "@"
  person_sourcedid  the institution's id for the person (Canvas: the SIS id)

The value is lowercased (JupyterHub lowercases every user name) and must be an id kerasgrade
accepts (the service's rule, frontends/serve/inbound.py); otherwise the launch is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kerasgrade.frontends.serve.inbound import STUDENT_ID

RULES = ("sub", "email", "email_local", "person_sourcedid")
LIS_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/lis"


class UnusableId(ValueError):
    """The LMS user cannot be named by the rule: the message says why, for the user."""


def launch_identity(id_token: Mapping[str, Any]) -> dict[str, str]:
    """The identity fields of a launch's id_token."""
    lis = id_token.get(LIS_CLAIM)
    return _fields(id_token.get("sub"), id_token.get("email"),
                   lis.get("person_sourcedid") if isinstance(lis, Mapping) else None)


def member_identity(member: Mapping[str, Any]) -> dict[str, str]:
    """The identity fields of a Names and Role Provisioning member."""
    return _fields(member.get("user_id"), member.get("email"), member.get("lis_person_sourcedid"))


def _fields(sub: Any, email: Any, sourcedid: Any) -> dict[str, str]:
    found = {"sub": sub, "email": email, "person_sourcedid": sourcedid}
    fields = {k: v for k, v in found.items() if isinstance(v, str) and v}
    if "@" in fields.get("email", ""):
        fields["email_local"] = fields["email"].rsplit("@", 1)[0]
    return fields


def student_id(identity: Mapping[str, str], rule: str) -> str:
    """The hub user and nbgrader student id of this identity under the rule."""
    if rule not in RULES:
        raise ValueError(f"unknown student id rule {rule!r}: one of {', '.join(RULES)}")
    value = identity.get(rule)
    if not value:
        raise UnusableId(f"the LMS did not send this user's {rule}, which names users here: "
                         "ask the instructor to check the tool's privacy settings in the LMS")
    name = value.lower()
    if not STUDENT_ID.fullmatch(name):
        raise UnusableId(f"this user's {rule} from the LMS cannot name a user here: it must be "
                         "1 to 64 letters, digits, '_', '.', '@' or '-', starting with a "
                         "letter, digit or '_'")
    return name
