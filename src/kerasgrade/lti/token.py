"""Access tokens for the LMS's services: OAuth 2 client credentials with a client assertion
(a JWT signed by the tool's key, joserfc), as LTI 1.3's security framework asks. A token is
kept until a minute before it expires, or until the LMS refuses it."""

from __future__ import annotations

import time
import uuid
from typing import Any

import requests
from joserfc import jwt
from joserfc.jwk import RSAKey

from kerasgrade.lti.settings import KerasgradeLti, LtiProblem
from kerasgrade.report.text import printable

SCOPES = (
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
)
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MARGIN_SECONDS = 60.0  # a token this close to its end is renewed before use


def tool_key(lti: KerasgradeLti) -> RSAKey:
    try:
        return RSAKey.import_key(lti.read_key())
    except ValueError as exc:
        raise LtiProblem(f"the LTI private key {lti.key_path()} is not an RSA key in PEM: "
                         f"{exc}") from exc


def public_jwk(lti: KerasgradeLti) -> dict[str, Any]:
    """The tool's public key as the LMS registers it (Canvas: "Public JWK"); its kid is the
    key's RFC 7638 thumbprint, the one each client assertion names."""
    key = tool_key(lti)
    return key.as_dict(private=False) | {"kid": key.thumbprint(), "alg": "RS256", "use": "sig"}


class Tokens:
    def __init__(self, lti: KerasgradeLti, session: requests.Session) -> None:
        self.lti = lti
        self.session = session
        self.key = tool_key(lti)
        self.kid = self.key.thumbprint()
        self._token = ""
        self._until = 0.0

    def get(self) -> str:
        if not self._token or time.time() > self._until - MARGIN_SECONDS:
            self._token, self._until = self._fetch()
        return self._token

    def refused(self) -> None:
        """The LMS answered 401: the next call fetches a new token."""
        self._token = ""

    def _assertion(self) -> str:
        now = int(time.time())
        claims = {"iss": self.lti.client_id, "sub": self.lti.client_id,
                  "aud": self.lti.token_url, "iat": now, "exp": now + 300,
                  "jti": uuid.uuid4().hex}
        return jwt.encode({"alg": "RS256", "kid": self.kid}, claims, self.key)

    def _fetch(self) -> tuple[str, float]:
        """A new token; requests' errors (the LMS away) go to the caller, which retries."""
        resp = self.session.post(self.lti.token_url, timeout=self.lti.timeout_seconds, data={
            "grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self._assertion(), "scope": " ".join(SCOPES)})
        if resp.status_code >= 500:
            resp.raise_for_status()
        try:
            answer = resp.json()
            return (str(answer["access_token"]),
                    time.time() + float(answer.get("expires_in") or 3600))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise LtiProblem(f"the LMS refused the tool's access token request "
                             f"({resp.status_code}): {printable(resp.text, 300)}") from None
