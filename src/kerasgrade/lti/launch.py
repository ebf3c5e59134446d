"""The LMS's launch into the course's JupyterHub: jupyterhub-ltiauthenticator's LTI 1.3
authenticator, with what a course needs on top (docs/lti.md).

LTI13Authenticator does the OIDC third-party login, checks the id_token's signature against
the platform's key set (PyJWT's JWKS client), its issuer, audience, expiry and age, and binds
state and nonce to cookies of the browser that started the login. Added here:

* one nonce, one launch: a launch posted again, cookies and all, is refused (the upstream
  handler checks the nonce against the browser's cookie only), across hub restarts too (the
  spent nonces sit in a file of the hub's, beside jupyterhub.sqlite);
* a page that says why a launch was refused (forged, expired, replayed, another course...);
* only the configured deployments and LMS courses get in;
* the user's name by the course's one rule (settings.student_id), or a page saying why
  not;
* each launch's service claims and launcher recorded for the service (launches.py).
"""

from __future__ import annotations

import os
import pwd
import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import jwt
from ltiauthenticator.lti13.auth import LTI13Authenticator
from ltiauthenticator.lti13.error import InvalidAudienceError, ValidationError
from ltiauthenticator.lti13.handlers import LTI13CallbackHandler, LTI13LoginInitHandler
from tornado.web import HTTPError
from traitlets import Bool, Enum, Set, Unicode

from kerasgrade.lti.launches import CONTEXT_CLAIM, DEPLOYMENT_CLAIM, OtherCourse, record_launch
from kerasgrade.lti.settings import RULES, LtiProblem, student_id

AGAIN = ("Open the tool again from your course in the LMS. If this keeps happening, show this "
         "page to your instructor.")


class LaunchRefused(HTTPError):
    """A launch the hub does not accept; JupyterHub's error page shows ``why``."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(status, "LTI launch refused: %s", why, reason="LTI launch refused")
        self.jupyterhub_message = f"The launch from your LMS was refused: {why}. {AGAIN}"


def refusal(error: Exception) -> LaunchRefused:
    """What an upstream validation error means for the person who launched."""
    cause = error.__context__  # the upstream validator re-raises PyJWT's errors as TokenError
    if isinstance(cause, jwt.ExpiredSignatureError) or "too long ago" in str(error):
        return LaunchRefused(401, "it has expired (a launch is valid for a few minutes only)")
    if isinstance(cause, jwt.PyJWKClientConnectionError):
        return LaunchRefused(502, "the hub could not fetch the LMS's public keys to check it")
    if isinstance(cause, jwt.InvalidSignatureError | jwt.PyJWKClientError | jwt.DecodeError):
        return LaunchRefused(401, "its signature does not match the LMS's keys, so it was not "
                                  "sent by the LMS this hub is registered with")
    if isinstance(cause, jwt.InvalidIssuerError):
        return LaunchRefused(401, "it comes from an LMS this hub is not registered with")
    if isinstance(error, InvalidAudienceError):
        return LaunchRefused(401, "it is meant for another tool (its client id is not this "
                                  "hub's)")
    if isinstance(error, HTTPError):  # the state or nonce cookie check
        return LaunchRefused(400, "it does not continue a login started in this browser "
                                  "(a replayed launch, or cookies blocked for this site)")
    return LaunchRefused(400, f"it is not a valid LTI 1.3 launch ({error})")


class LoginInitHandler(LTI13LoginInitHandler):
    """The OIDC login's start, whose state and nonce cookies must come back with the LMS's
    cross-site form post: over HTTPS they are SameSite=None (browsers default to Lax, which
    withholds them from that post)."""

    def _set_oauth_cookie(self, key: str, value: str) -> None:
        cross_site = ({"samesite": "None", "secure": True}
                      if self.authenticator.get_uri_scheme(self.request) == "https" else {})
        self._set_cookie(key, value, expires_days=1, httponly=True, encrypted=True,
                         **cross_site)


class CallbackHandler(LTI13CallbackHandler):
    """The launch's landing: upstream's checks, explained when they fail, and one use per
    nonce."""

    def decode_and_validate_launch_request(self) -> dict[str, Any]:
        try:
            id_token = super().decode_and_validate_launch_request()
        except (ValidationError, HTTPError) as error:
            self.log.warning("LTI launch refused: %s", error)
            raise refusal(error) from error
        self.authenticator.use_nonce(id_token)
        return id_token

    def get_next_url(self, user: Any = None) -> str:
        """Where the launch goes on: its target link URI, unless that is one of these LTI
        endpoints (an LMS's tool URL is often the launch URL itself, which takes POSTs only),
        then the user's server as after any login."""
        next_url = super().get_next_url(user)
        own = {url(self.hub.base_url) for url in (self.authenticator.login_url,
                                                  self.authenticator.callback_url)}
        if urlparse(next_url).path in own:
            return super(LTI13CallbackHandler, self).get_next_url(user)
        return next_url


class KerasgradeLTI13Authenticator(LTI13Authenticator):
    """LTI13Authenticator for a kerasgrade course's hub (docs/lti.md)."""

    login_handler = LoginInitHandler
    callback_handler = CallbackHandler

    user_id = Enum(
        RULES, default_value="email_local", config=True,
        help="""Which LMS field names the hub user, who is the nbgrader student id: the
        course's one rule, c.KerasgradeLti.user_id in nbgrader_config.py, set to the same
        value here (kerasgrade.lti.settings.student_id: email_local, email, sub, sourcedid).""")
    deployment_ids = Set(
        Unicode(), config=True,
        help="""The deployment ids (the LMS's installations of the tool) whose launches get
        in. Empty: any deployment of the registered client ids.""")
    context_ids = Set(
        Unicode(), config=True,
        help="""The LMS courses (context ids) whose launches get in. Empty: any, but the course
        folder then keeps the first one's and refuses others.""")
    course_root = Unicode(
        "", config=True,
        help="""The course folder, where each launch is recorded in .kerasgrade/lti/context.json
        for the service. Empty: launches are not recorded (no grade passback).""")
    require_unix_account = Bool(
        False, config=True,
        help="""Refuse a launch whose user has no Unix account here (with a spawner that runs
        each server as its Unix user).""")

    nonce_file = Unicode(
        "lti-nonces.sqlite", config=True,
        help="""Where the spent launch nonces are kept (relative to the hub's working folder,
        where jupyterhub.sqlite is), so that a launch stays spent when the hub restarts.
        Empty: in memory, for this run of the hub only.""")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._spent: sqlite3.Connection | None = None

    def _nonces(self) -> sqlite3.Connection:
        if self._spent is None:
            path = self.nonce_file or ":memory:"
            if self.nonce_file:  # the hub's own file: nobody else reads or writes it
                os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600))
            self._spent = sqlite3.connect(path, isolation_level=None, timeout=10)
            self._spent.execute("CREATE TABLE IF NOT EXISTS spent (issuer TEXT, nonce TEXT, "
                                "until REAL, PRIMARY KEY (issuer, nonce))")
        return self._spent

    def use_nonce(self, id_token: dict[str, Any]) -> None:
        """Spend the launch's nonce; refuse a launch whose nonce is spent. A nonce is kept
        while its token could still be accepted: until exp, and at least an hour after iat
        (beyond the validator's max_age, 600 s unless configured)."""
        now = time.time()
        until = max(float(id_token.get("exp", 0)), float(id_token.get("iat", now)) + 3600) + 60
        spent = self._nonces()
        spent.execute("DELETE FROM spent WHERE until < ?", (now,))
        try:
            spent.execute("INSERT INTO spent VALUES (?, ?, ?)",
                          (str(id_token.get("iss")), str(id_token.get("nonce")), until))
        except sqlite3.IntegrityError:
            raise LaunchRefused(400, "it was used already (a launch can be used once)") from None

    def get_username(self, token: dict[str, Any]) -> str:
        try:
            return student_id(self.user_id, token)
        except LtiProblem as error:
            raise LaunchRefused(403, str(error)) from error

    def normalize_username(self, username: str) -> str:
        """The rule's name as it is: JupyterHub would lowercase it, and the hub user must be
        the student id the roster gets from the same rule."""
        return username

    async def authenticate(self, handler: Any, data: dict[str, Any] | None = None
                           ) -> dict[str, Any]:
        token = data or {}
        deployment = token.get(DEPLOYMENT_CLAIM)
        if self.deployment_ids and deployment not in self.deployment_ids:
            raise LaunchRefused(403, "it comes from an installation of the tool in the LMS "
                                     "that this hub does not serve")
        context = (token.get(CONTEXT_CLAIM) or {}).get("id")
        if self.context_ids and context not in self.context_ids:
            raise LaunchRefused(403, "it comes from an LMS course this hub does not serve")
        authenticated = await super().authenticate(handler, token)
        name = authenticated["name"]
        if self.require_unix_account:
            try:
                pwd.getpwnam(name)
            except KeyError:
                raise LaunchRefused(403, f"there is no account for {name} on this hub "
                                         "(ask your instructor to add you)") from None
        return authenticated

    async def run_post_auth_hook(self, handler: Any, authentication: dict[str, Any]
                                 ) -> dict[str, Any]:
        """Record the launch of a user the hub lets in (after JupyterHub's allow checks)."""
        if self.course_root:
            try:
                record_launch(Path(self.course_root), authentication["auth_state"],
                              authentication["name"], self.user_id)
            except OtherCourse as error:
                raise LaunchRefused(403, f"{error}, not from this one") from error
            except OSError as error:  # the student still gets in; the service lacks this one
                self.log.error("LTI: the launch of %s is not recorded in %s: %s",
                               authentication["name"], self.course_root, error)
        return await super().run_post_auth_hook(handler, authentication)
