"""c.KerasgradeLti: read from the course's nbgrader_config.py; the tool's key refused where a
student could read it; one documented rule from an LMS user to a student id."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kerasgrade import settings
from kerasgrade.lti.settings import KEY, KerasgradeLti, LtiProblem, of_course, student_id

ADA = {"sub": "7d3c9a1e-0001", "email": "Ada@Example.edu",
       "https://purl.imsglobal.org/spec/lti/claim/lis": {"person_sourcedid": "s1234"}}


def load(root: Path) -> KerasgradeLti:
    """The course's LTI settings as the service reads them."""
    return of_course(root, settings.load(root)[1])


def _course(tmp_path: Path, mode: int = 0o600, key: Path = KEY) -> Path:
    """A course whose settings name the key (default: where the settings expect it)."""
    path = tmp_path / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("-----BEGIN PRIVATE KEY-----\n")
    os.chmod(path, mode)
    (tmp_path / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "c.KerasgradeLti.issuer = 'https://lms.example.edu'\n"
        "c.KerasgradeLti.client_id = 'tool'\n"
        "c.KerasgradeLti.token_url = 'https://lms.example.edu/token'\n"
        + (f"c.KerasgradeLti.private_key = {str(path)!r}\n" if key != KEY else "")
        + "c.KerasgradeLti.user_id = 'sub'\n")
    return tmp_path


def test_settings_come_from_nbgrader_config_and_a_private_key_passes(tmp_path: Path) -> None:
    lti = load(_course(tmp_path))
    assert lti.key_path() == tmp_path / KEY
    assert (lti.issuer, lti.client_id, lti.user_id) == ("https://lms.example.edu", "tool", "sub")
    assert lti.retry_seconds == 5.0
    lti.check()


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_a_key_others_can_read_is_refused_with_the_fix(tmp_path: Path, mode: int) -> None:
    lti = load(_course(tmp_path, mode))
    with pytest.raises(LtiProblem, match=r"can be read by its group or by anyone.*chmod 600"):
        lti.check()


def test_unconfigured_and_missing_key_say_what_to_set(tmp_path: Path) -> None:
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n")
    with pytest.raises(LtiProblem, match=r"set c.KerasgradeLti.issuer, c.KerasgradeLti"):
        load(tmp_path).check()
    lti = load(_course(tmp_path))
    (tmp_path / KEY).unlink()
    with pytest.raises(LtiProblem, match="cannot be read"):
        lti.check()


def test_a_key_outside_the_folders_the_sandbox_hides_is_refused(tmp_path: Path) -> None:
    lti = load(_course(tmp_path, key=Path("keys") / "tool.pem"))
    with pytest.raises(LtiProblem, match=r"outside the course's private folders.*move it to "
                       r".*\.kerasgrade/lti/tool-key\.pem"):
        lti.check()


def test_each_rule_reads_a_launch_and_an_nrps_member_alike() -> None:
    member = {"user_id": "7d3c9a1e-0001", "email": "Ada@Example.edu",
              "lis_person_sourcedid": "s1234"}
    for user in (ADA, member):
        assert [student_id(rule, user) for rule in ("email_local", "email", "sub", "sourcedid")
                ] == ["ada", "ada@example.edu", "7d3c9a1e-0001", "s1234"]


@pytest.mark.parametrize(("user", "message"), [
    ({"sub": "u1"}, "sent no email_local for user u1"),
    ({"sub": "u2", "email": "a+b@example.edu"},
     r"'a\+b' \(email_local\) is not a usable student id"),
    ({"sub": "u3", "email": "../etc@example.edu"}, "is not a usable student id"),
])
def test_an_unusable_id_is_a_clear_refusal(user: dict[str, str], message: str) -> None:
    with pytest.raises(LtiProblem, match=message):
        student_id("email_local", user)


def test_a_feedback_link_with_other_fields_is_refused(tmp_path: Path) -> None:
    lti = load(_course(tmp_path))
    lti.feedback_url = "https://hub.example.edu/{user}/{assignment}"
    with pytest.raises(LtiProblem, match=r"only \{student\} and \{assignment\}"):
        lti.check()
