"""The tool's registration with the LMS, as traits of c.KerasgradeLti in nbgrader_config.py.

The LMS gives the issuer, client id, deployment id and its URLs when the tool is registered
(docs/lti.md walks through Canvas and Moodle); the tool's private key is a file only the
service's user may read. One rule maps an LMS user to the hub user and the nbgrader student
id, for the launch and for the roster alike (`student_id`).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from traitlets import Enum, Float, Unicode
from traitlets.config import Configurable

from kerasgrade.course.layout import STUDENT_ID
from kerasgrade.lti.launches import FOLDER
from kerasgrade.report.text import printable

LIS_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/lis"
KEY = FOLDER / "tool-key.pem"
# The user-id rules: what each reads from a launch's id token and from an NRPS member.
RULES = ("email_local", "email", "sub", "sourcedid")


class LtiProblem(Exception):
    """The LTI settings or the LMS's answer cannot be used: a message for the instructor."""


class KerasgradeLti(Configurable):
    """The course's LMS, reached through LTI 1.3 (launch, roster and grade passback)."""

    issuer = Unicode("", help="LTI: the LMS's issuer (iss), e.g. https://canvas.instructure.com"
                     ).tag(config=True)
    client_id = Unicode("", help="LTI: the client id the LMS gave the tool").tag(config=True)
    deployment_id = Unicode("", help="LTI: the deployment id of the tool in the LMS"
                            ).tag(config=True)
    jwks_url = Unicode("", help="LTI: the LMS's public key set (JWKS) URL").tag(config=True)
    token_url = Unicode("", help="LTI: the LMS's OAuth 2 access token URL").tag(config=True)
    auth_url = Unicode("", help="LTI: the LMS's OIDC authorization (auth login) URL"
                       ).tag(config=True)
    private_key = Unicode(str(KEY), help="LTI: the tool's RSA private key (PEM file), in "
                          "the course folder's .kerasgrade/, which the sandbox hides from "
                          "students' code; only the service's user may read it (a key "
                          "readable by its group or others is refused). Relative to the "
                          "course folder").tag(config=True)
    user_id = Enum(RULES, default_value="email_local", help="LTI: which LMS field becomes the "
                   "hub user and nbgrader student id: 'email_local' (the e-mail's part before "
                   "@, lower case; the LMS must share e-mails), 'email' (the whole address), "
                   "'sub' (the LMS's opaque user id, always sent), 'sourcedid' (the SIS id, "
                   "lis person_sourcedid)").tag(config=True)
    lineitems_url = Unicode("", help="LTI: the course's line items (AGS) URL, used until a "
                            "launch brings the LMS's own (.kerasgrade/lti/context.json)"
                            ).tag(config=True)
    memberships_url = Unicode("", help="LTI: the course's members (NRPS) URL, used until a "
                              "launch brings the LMS's own").tag(config=True)
    feedback_url = Unicode("", help="LTI: the link in each score's comment, with {student} "
                           "and {assignment}, e.g. https://hub.example.edu/hub/user-redirect/"
                           "lab/tree/{assignment}/feedback (empty: the comment names "
                           "nbgrader fetch_feedback)").tag(config=True)
    roster_minutes = Float(60.0, help="LTI: `kerasgrade serve` reads the LMS course's "
                           "learners into the gradebook at start and then this often, as "
                           "`kerasgrade lti roster` does (0: never)").tag(config=True)
    retry_seconds = Float(5.0, help="LTI: the first wait before a score the LMS did not take "
                          "(down, 5xx, token refused) is sent again; it doubles each time"
                          ).tag(config=True)
    retry_max_seconds = Float(600.0, help="LTI: the longest wait between two tries of a score"
                              ).tag(config=True)
    timeout_seconds = Float(10.0, help="LTI: seconds one call to the LMS may take"
                            ).tag(config=True)

    course_root = Path(".")  # set by `load`: where a relative private_key is

    def configured(self) -> bool:
        return bool(self.issuer or self.client_id or self.token_url)

    def key_path(self) -> Path:
        return (self.course_root / self.private_key).absolute()

    def check(self) -> None:
        """Refuse settings the service cannot send a grade with: a message that says what
        to set or to fix."""
        missing = [name for name in ("issuer", "client_id", "token_url", "private_key")
                   if not getattr(self, name)]
        if missing:
            raise LtiProblem("LTI is not configured: set "
                             + ", ".join(f"c.KerasgradeLti.{m}" for m in missing)
                             + " in nbgrader_config.py (docs/lti.md)")
        key_problem(self.key_path(), self.course_root)
        try:
            self.feedback_url.format(student="s", assignment="a")
        except (KeyError, IndexError, ValueError) as exc:
            raise LtiProblem(f"c.KerasgradeLti.feedback_url {self.feedback_url!r} can hold "
                             f"only {{student}} and {{assignment}}: {exc!r}") from None

    def read_key(self) -> str:
        self.check()
        return self.key_path().read_text()


def key_problem(path: Path, root: Path) -> None:
    """The tool's key must be a file of the service's user that no one else can read, where
    the sandbox hides it: a student who reads it can post any grade to the LMS."""
    if not any(path.resolve().is_relative_to(h) for h in _hidden(root)):
        raise LtiProblem(f"the LTI private key {path} is outside the course's private "
                         f"folders, where code run by the grader could read it: move it to "
                         f"{root.absolute() / KEY} (chmod 600) and set "
                         "c.KerasgradeLti.private_key to it")
    try:
        info = path.stat()
    except OSError as exc:
        raise LtiProblem(f"the LTI private key {path} cannot be read: {exc.strerror}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise LtiProblem(f"the LTI private key {path} is not a file")
    if info.st_mode & 0o077:
        raise LtiProblem(f"the LTI private key {path} can be read by its group or by anyone "
                         f"(mode {stat.filemode(info.st_mode)}): students could sign grades "
                         f"with it. Run: chmod 600 {path}")
    if info.st_uid != os.geteuid():
        raise LtiProblem(f"the LTI private key {path} belongs to another user (uid "
                         f"{info.st_uid}): it must be the service's own, chmod 600")


def _hidden(root: Path) -> list[Path]:
    """The course's folders the sandbox hides (kerasgrade.course.layout.private_paths)."""
    from kerasgrade.course.layout import private_paths

    return [p.resolve() for p in private_paths(root.absolute()) if p != Path("/run")]


def student_id(rule: str, user: dict[str, Any]) -> str:
    """The student id of an LMS user, from a launch's id token or an NRPS member (whose
    `user_id` is the token's `sub`). LtiProblem when the LMS did not send the field, or when
    what it sent is not an id (docs/security.md: ids are letters, digits and . _ @ -)."""
    sub = user.get("sub", user.get("user_id"))
    email = str(user.get("email") or "")
    value = {"sub": sub, "email": email.lower(),
             "email_local": email.partition("@")[0].lower() if "@" in email else "",
             "sourcedid": user.get("lis_person_sourcedid")
             or (user.get(LIS_CLAIM) or {}).get("person_sourcedid")}[rule]
    who = printable(str(sub), 80)
    if not value:
        raise LtiProblem(f"the LMS sent no {rule} for user {who} (c.KerasgradeLti.user_id = "
                         f"{rule!r}): share it in the LMS's privacy settings, or choose "
                         "another rule")
    if not STUDENT_ID.fullmatch(str(value)):
        raise LtiProblem(f"user {who}: {printable(str(value), 80)!r} ({rule}) is not a usable "
                         "student id (letters, digits, . _ @ -, at most 64)")
    return str(value)


def of_course(root: Path, app: Any) -> KerasgradeLti:
    """The course's LTI settings from nbgrader's app that read its nbgrader_config.py."""
    lti = KerasgradeLti(parent=app)
    lti.course_root = root
    return lti


def reference() -> list[str]:
    """docs/config.md's LTI section: every c.KerasgradeLti setting, its default and its help."""
    return ["## LTI", "",
            "`c.KerasgradeLti`: the course's LMS, for the launch, the roster and grade "
            "passback", "([lti.md](lti.md)).", "",
            "| setting | default | what it does |", "| --- | --- | --- |",
            *(f"| `c.KerasgradeLti.{name}` | `{trait.default_value!r}` | {trait.help} |"
              for name, trait in KerasgradeLti.class_traits(config=True).items())]
