"""What a refused launch tells the person who launched (kerasgrade.lti.launch), from the real
upstream validator (jupyterhub-ltiauthenticator with PyJWT) on real signed tokens: the hub
test (test_lti_hub.py) drives the same through a running hub for a few of them."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from lti_platform import CLIENT_ID, DEPLOYMENT_ID, ISSUER, LEARNER, Platform, new_key, pem
from ltiauthenticator.lti13.error import ValidationError
from ltiauthenticator.lti13.validator import LTI13LaunchValidator
from tornado.web import HTTPError

from kerasgrade.lti.launch import KerasgradeLTI13Authenticator, LaunchRefused, refusal

FORGER = new_key()
LTI = "https://purl.imsglobal.org/spec/lti/claim"


def token(lms: Platform, key: Any = None, **claims: Any) -> str:
    """A launch's id token as the platform signs it (or another key, under the platform's
    key id)."""
    now = int(time.time())
    body = {"iss": ISSUER, "aud": CLIENT_ID, "sub": "u1", "iat": now, "exp": now + 300,
            "nonce": "n1", f"{LTI}/version": "1.3.0", f"{LTI}/deployment_id": DEPLOYMENT_ID,
            f"{LTI}/target_link_uri": "https://hub.example.edu/hub", f"{LTI}/roles": [LEARNER],
            f"{LTI}/message_type": "LtiResourceLinkRequest",
            f"{LTI}/resource_link": {"id": "r1"}} | claims
    kid = lms.course.get_registration().get_kid()
    return jwt.encode(body, pem(key or lms.key), "RS256", headers={"kid": kid})


def check(lms: Platform, encoded: str) -> dict[str, Any]:
    """The upstream validator, configured as the hub's, on the platform's key set."""
    return LTI13LaunchValidator().verify_and_decode_jwt(
        encoded, issuer=ISSUER, audience={CLIENT_ID}, jwks_endpoint=lms.jwks_url,
        jwks_algorithms=["RS256"])


@pytest.mark.parametrize(("claims", "said"), [
    ({"key": FORGER}, "its signature does not match the LMS's keys"),
    ({"exp": int(time.time()) - 60}, "it has expired"),
    ({"iat": int(time.time()) - 3600, "exp": int(time.time()) + 60}, "it has expired"),
    ({"iss": "https://other.example"}, "it comes from an LMS this hub is not registered with"),
    ({"aud": "another-tool"}, "it is meant for another tool"),
])
def test_a_refused_launch_says_why(lms: Platform, claims: dict[str, Any], said: str) -> None:
    encoded = token(lms, **claims)
    with pytest.raises(ValidationError) as error:
        LTI13LaunchValidator().validate_id_token(check(lms, encoded))
    refused = refusal(error.value)
    assert isinstance(refused, HTTPError) and refused.status_code == 401
    message = refused.jupyterhub_message
    assert message.startswith(f"The launch from your LMS was refused: {said}"), message
    assert "Open the tool again from your course" in message


def test_the_platforms_own_token_passes_the_same_checks(lms: Platform) -> None:
    claims = check(lms, token(lms))
    LTI13LaunchValidator().validate_id_token(claims)
    assert claims["sub"] == "u1"


def test_a_nonce_is_spent_once_per_issuer_and_stays_spent_after_a_restart(
        tmp_path: Path) -> None:
    spent = str(tmp_path / "lti-nonces.sqlite")
    now = time.time()
    hub = KerasgradeLTI13Authenticator(nonce_file=spent)
    hub.use_nonce({"iss": ISSUER, "nonce": "n1", "iat": now, "exp": now + 300})
    hub.use_nonce({"iss": "https://other.example", "nonce": "n1", "iat": now, "exp": now + 300})
    with pytest.raises(LaunchRefused) as refused:
        hub.use_nonce({"iss": ISSUER, "nonce": "n1", "iat": now, "exp": now + 300})
    assert "it was used already" in refused.value.jupyterhub_message
    assert stat.S_IMODE(os.stat(spent).st_mode) == 0o600
    restarted = KerasgradeLTI13Authenticator(nonce_file=spent)
    with pytest.raises(LaunchRefused):
        restarted.use_nonce({"iss": ISSUER, "nonce": "n1", "iat": now, "exp": now + 300})
    # A nonce whose token can no longer be accepted is forgotten.
    old = now - 7200
    restarted.use_nonce({"iss": ISSUER, "nonce": "n2", "iat": old, "exp": old + 300})
    restarted.use_nonce({"iss": ISSUER, "nonce": "n2", "iat": now, "exp": now + 300})


@pytest.mark.parametrize(("claims", "said"), [
    ({"sub": "u1"}, "the LMS sent no email_local for user u1"),
    ({"sub": "u2", "email": "../etc@example.edu"}, "is not a usable student id"),
    ({"sub": "u3", "email": "<img src=x>@example.edu"}, "is not a usable student id"),
])
def test_a_user_the_rule_cannot_name_is_refused_with_the_reason(claims: dict[str, str],
                                                                said: str) -> None:
    with pytest.raises(LaunchRefused) as refused:
        KerasgradeLTI13Authenticator(user_id="email_local").get_username(claims)
    assert refused.value.status_code == 403
    assert said in refused.value.jupyterhub_message


def test_the_rules_name_keeps_its_case() -> None:
    hub = KerasgradeLTI13Authenticator(user_id="sub")
    name = hub.get_username({"sub": "AbC-1"})
    assert hub.normalize_username(name) == "AbC-1"

