"""What the LMS's launches leave for the service: .kerasgrade/lti/context.json in the course.

The hub (root) writes it at each launch, the service (the instructor) reads it:

  issuer, client_id, deployment_id, context     where the launches come from
  user_id             the rule the hub named users by (KERASGRADE_LTI_USER_ID); the service's
                      own, c.KerasgradeLti.user_id, must be the same (`rule_problem`)
  https://purl.imsglobal.org/spec/lti-ags/claim/endpoint
                      the course's line items (Assignment and Grade Services), as launched
  https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice
                      the course's members (Names and Role Provisioning Services)
  launched            {student id: {"sub", "roles", "first", "last"}}: who launched and as
                      whom in the LMS; a score can be posted only for these users

The file belongs to the course folder's owner, mode 0600 in a 0700 folder: no student reads
it. It is replaced whole (a new file, then a rename), so a reader never sees half of it.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
CONTEXT_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/context"
DEPLOYMENT_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/deployment_id"
ROLES_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/roles"
FOLDER = Path(".kerasgrade") / "lti"
NAME = "context.json"


NEVER_LAUNCHED = "never launched the tool from the LMS"


class OtherCourse(Exception):
    """The launch comes from another LMS course than the one this course folder records."""


def context_path(course: Path) -> Path:
    return course / FOLDER / NAME


def read_context(course: Path) -> dict[str, Any]:
    """The recorded context, {} before the first launch (or when it cannot be read: the
    next launch writes it anew)."""
    try:
        context = json.loads(context_path(course).read_text())
    except (OSError, ValueError):
        return {}
    return context if isinstance(context, dict) else {}


def rule_problem(course: Path, rule: str) -> str | None:
    """Why the service must not run with the user-id rule ``rule``: the hub names users by
    another (each student's hub user, exchange folder and gradebook id would then differ)."""
    recorded = read_context(course).get("user_id")
    if recorded is None or recorded == rule:
        return None
    return (f"the hub names LMS users by the rule {recorded!r} (KERASGRADE_LTI_USER_ID, "
            f"recorded in {context_path(course)}) but nbgrader_config.py has "
            f"c.KerasgradeLti.user_id = {rule!r}: set both to the same rule")


def never_launched(course: Path, user: str) -> bool:
    """Whether the LMS user ``user`` (a token's sub, the roster's user_id) has not launched
    the tool, by the course's launch record; an LMS takes no score for such a user (AGS).
    Without a record (launches go elsewhere, or none yet) nobody counts as never launched."""
    launched = read_context(course).get("launched")
    return launched is not None and user not in {v.get("sub") for v in launched.values()}


def merged(old: Mapping[str, Any], id_token: Mapping[str, Any], student: str,
           now: datetime, rule: str) -> dict[str, Any]:
    """The context after this launch by ``student``, named by the user-id rule ``rule``.
    Raises OtherCourse."""
    context = id_token.get(CONTEXT_CLAIM) or {}
    if old.get("context") and old["context"].get("id") != context.get("id"):
        raise OtherCourse(f"this course folder records launches from the LMS course "
                          f"{old['context'].get('title') or old['context'].get('id')!r}")
    new = dict(old) | {"issuer": id_token["iss"], "client_id": _client_id(id_token),
                       "deployment_id": id_token.get(DEPLOYMENT_CLAIM), "context": context,
                       "user_id": rule, "updated": now.isoformat()}
    # A launch without a service's claim (another placement) keeps what an earlier one sent.
    for claim in (AGS_CLAIM, NRPS_CLAIM):
        if isinstance(id_token.get(claim), Mapping):
            new[claim] = id_token[claim]
    # Names given by another rule are no student ids any more.
    kept = old.get("user_id") in (None, rule)
    launched = dict(old.get("launched") or {}) if kept else {}
    first = (launched.get(student) or {}).get("first", now.isoformat())
    launched[student] = {"sub": id_token["sub"], "roles": list(id_token.get(ROLES_CLAIM) or []),
                         "first": first, "last": now.isoformat()}
    new["launched"] = launched
    return new


def _client_id(id_token: Mapping[str, Any]) -> str:
    aud = id_token.get("aud")
    return id_token.get("azp") or (aud[0] if isinstance(aud, list) else aud)


def record_launch(course: Path, id_token: Mapping[str, Any], student: str, rule: str
                  ) -> dict[str, Any]:
    """Add this launch, named by ``rule``, to the course's context.json, as its owner.
    Raises OtherCourse."""
    owner = course.stat()
    folder = _private_folder(course, owner.st_uid, owner.st_gid)
    try:
        new = merged(read_context(course), id_token, student, datetime.now(UTC), rule)
        tmp = f".{NAME}.{secrets.token_hex(8)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600,
                     dir_fd=folder)
        try:
            os.fchown(fd, owner.st_uid, owner.st_gid)
            os.write(fd, json.dumps(new, indent=1, sort_keys=True).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, NAME, src_dir_fd=folder, dst_dir_fd=folder)
        os.fsync(folder)
        return new
    finally:
        os.close(folder)


def _private_folder(course: Path, uid: int, gid: int) -> int:
    """A descriptor of the course's .kerasgrade/lti, made as the course's owner's, 0700; no
    link is followed on the way (the course folder is its owner's to arrange)."""
    fd = os.open(course, os.O_DIRECTORY)
    for part in FOLDER.parts:
        try:
            os.mkdir(part, 0o700, dir_fd=fd)
            os.chown(part, uid, gid, dir_fd=fd, follow_symlinks=False)
        except FileExistsError:
            pass
        try:
            inner = os.open(part, os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        finally:
            os.close(fd)
        fd = inner
    os.chmod(fd, 0o700)
    return fd
