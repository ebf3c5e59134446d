"""A real LTI 1.3 platform (an LMS's side) for the tests, offline, on loopback.

Built on lti1p3platform: its platform configuration signs the launches and the access tokens
and checks the tool's client assertion; its OIDC login and message launch (FastAPI adapter)
drive the browser's launch; its AssignmentsGradesService and NamesRoleProvisioningService
check each service call's bearer token and scope and shape the answers. What the library
leaves to a platform is written here through its extension points: where line items and
scores are kept (the platform's gradebook, which a test reads back), the course's roster, and
the HTTP routes. The module is not named platform.py: its folder is on sys.path in the
tests, where that name would hide the standard library's `platform`.

Switches a test flips, as an LMS misbehaves:
- `down()` / `up()`: the server stops listening (connection refused), then listens again on
  the same port with the same keys and gradebook;
- `fail_posts = N`: the next N posts to the grade service (line items, scores) answer 500;
- `revoke_tokens()`: every access token issued so far is refused (401), as when an LMS
  rotates keys or a token went stale;
- `require_launch = True`: a score for a user who never launched the tool is refused, as some
  LMSs do; `launch_key` / `id_token_ttl`: a launch signed with another key, or expired.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import typing as t
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qsl

import jwt
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from lab_server import free_port
from lti1p3platform.ags import LtiAgs
from lti1p3platform.exceptions import LineItemNotFoundException, LtiServiceException
from lti1p3platform.framework.fastapi.message_launch import FastapiMessageLaunch
from lti1p3platform.framework.fastapi.oidc_login import FastAPIOIDCLogin
from lti1p3platform.lineitem import TLineItem
from lti1p3platform.ltiplatform import AccessTokenResponse, LTI1P3PlatformConfAbstract
from lti1p3platform.membership import Context
from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract
from lti1p3platform.nrps import LtiNrps
from lti1p3platform.registration import Registration
from lti1p3platform.request import Request as LtiRequest
from lti1p3platform.request import TRequest
from lti1p3platform.response import Response as LtiResponse
from lti1p3platform.response import generate_next_link
from lti1p3platform.score import TScore, UpdateScoreStatus
from lti1p3platform.service_connector import (
    AssignmentsGradesService,
    NamesRoleProvisioningService,
    TPage,
)

LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
ISSUER = "https://lms.example.edu"
CLIENT_ID = "kerasgrade-tool"
DEPLOYMENT_ID = "deployment-1"
CONTEXT = Context(id="course-101", label="NN101", title="Neural networks with Keras")
RESOURCE_LINK = "resource-link-1"


@dataclass(frozen=True)
class Member:
    """One user of the course, as the LMS knows them."""

    sub: str  # the LMS's opaque, stable user id
    given_name: str
    family_name: str
    email: str
    roles: tuple[str, ...]

    def nrps(self) -> dict[str, t.Any]:
        return {"user_id": self.sub, "status": "Active", "name": f"{self.given_name} "
                f"{self.family_name}", "given_name": self.given_name,
                "family_name": self.family_name, "email": self.email, "roles": list(self.roles)}


ROSTER = (
    Member("7d3c9a1e-0001", "Ada", "Lovelace", "ada@example.edu", (LEARNER,)),
    Member("7d3c9a1e-0002", "Alan", "Turing", "alan@example.edu", (LEARNER,)),
    Member("7d3c9a1e-0003", "Grace", "Hopper", "grace@example.edu", (INSTRUCTOR,)),
)


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo
                                         ).decode()


@dataclass
class Gradebook:
    """The platform's gradebook: line items, every score posted (in order) and the result
    each user holds per line item. Reads and writes hold one lock: the server's thread
    writes, the test's thread reads."""

    line_items: dict[str, dict[str, t.Any]] = field(default_factory=dict)
    posted: list[dict[str, t.Any]] = field(default_factory=list)  # every accepted score
    results: dict[tuple[str, str], dict[str, t.Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: t.Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def result(self, label_or_id: str, sub: str) -> dict[str, t.Any] | None:
        """The score a user holds on a line item (by its id or its label)."""
        with self.lock:
            for item_id, item in self.line_items.items():
                if label_or_id in (item_id, item.get("label"), item.get("resourceId")):
                    return self.results.get((item_id, sub))
        return None

    def scores_of(self, sub: str) -> list[dict[str, t.Any]]:
        with self.lock:
            return [s for s in self.posted if s["userId"] == sub]


class Course(LTI1P3PlatformConfAbstract):
    """The platform's registration of the tool, with the access tokens it issued."""

    def init_platform_config(self, **kwargs: t.Any) -> None:
        self.lms: Platform = kwargs["lms"]
        self.issued: set[str] = set()
        self.revoked: set[str] = set()
        self.get_registration()

    def get_registration_by_params(self, **kwargs: t.Any) -> Registration:
        lms = self.lms
        return (Registration().set_iss(ISSUER).set_client_id(CLIENT_ID)
                .set_deployment_id(DEPLOYMENT_ID)
                .set_platform_private_key(pem(lms.key))
                .set_platform_public_key(public_pem(lms.key))
                .set_tool_key_set({"keys": [Registration.get_jwk(public_pem(lms.tool_key))]}))

    def get_access_token(self, token_request_data: dict[str, t.Any]) -> AccessTokenResponse:
        answer = super().get_access_token(token_request_data)
        with self.lms.gradebook.lock:
            self.issued.add(answer["access_token"])
        return answer

    def validate_token(self, token: str, allowed_scopes: list[str] | None = None,
                       audience: str | None = None) -> bool:
        """The library's check, with a refused or undecodable token answered 401 (the
        library lets PyJWT's own errors through as a 500)."""
        with self.lms.gradebook.lock:
            if token in self.revoked:
                raise LtiServiceException("Access token revoked", 401)
        try:
            return super().validate_token(token, allowed_scopes, audience)
        except jwt.PyJWTError as exc:
            raise LtiServiceException(f"Invalid access token: {exc}", 401) from exc


def _query(request: Request) -> dict[str, t.Any]:
    """The query, its page numbers as numbers (the library adds 1 to them)."""
    return {k: int(v) if k in ("page", "limit") and v.isdigit() else v
            for k, v in request.query_params.items()}


class Call(LtiRequest):
    """A FastAPI request as the library's Request (its own FastAPI one is left unfinished):
    the body is read before, as FastAPI reads it asynchronously."""

    def build_metadata(self, request: TRequest) -> TRequest:
        return request


async def lti_call(request: Request) -> Call:
    body = await request.body()
    kind = request.headers.get("content-type", "")
    form = dict(parse_qsl(body.decode())) if "form-urlencoded" in kind else {}
    return Call({"method": request.method, "form_data": form,
                 "get_data": _query(request),
                 "headers": request.headers, "content_type": kind,
                 "path": request.url.path, "json": json.loads(body) if "json" in kind else None})


def _when(score: t.Any) -> datetime:
    try:
        return datetime.fromisoformat(str(score["timestamp"]))
    except ValueError as exc:
        raise LtiServiceException("A score's timestamp is ISO 8601 with its offset", 400) from exc


class Grades(AssignmentsGradesService):
    """Assignment and Grade Services over the platform's gradebook."""

    def __init__(self, request: Call, lms: Platform, item: str | None = None) -> None:
        super().__init__(request, lms.course, f"{lms.url}/lineitems",
                         f"{lms.url}/lineitems/{item}" if item else None)
        self.lms = lms
        self.book = lms.gradebook

    def find_lineitems(self, page: int = 1, limit: int | None = None,
                       line_item_id: str | None = None, resource_link_id: str | None = None,
                       resource_id: str | None = None, tag: str | None = None) -> TPage:
        wanted = {"id": line_item_id, "resourceLinkId": resource_link_id,
                  "resourceId": resource_id, "tag": tag}
        with self.book.lock:
            found = [item for item in self.book.line_items.values()
                     if all(v is None or item.get(k) == v for k, v in wanted.items())]
        size = limit or len(found) or 1
        return {"content": found[(page - 1) * size:page * size],
                "has_next": page * size < len(found)}

    def find_lineitem(self, line_item_id: str) -> TLineItem:
        with self.book.lock:
            if line_item_id not in self.book.line_items:
                raise LineItemNotFoundException(line_item_id)
            return t.cast(TLineItem, self.book.line_items[line_item_id])

    def create_lineitem(self, creation_data: TLineItem) -> TLineItem:
        if not creation_data.get("label") or not creation_data.get("scoreMaximum"):
            raise LtiServiceException("A line item needs a label and a scoreMaximum", 400)
        with self.book.lock:
            item_id = str(next(self.book.ids))
            item = dict(creation_data) | {"id": f"{self.lms.url}/lineitems/{item_id}"}
            self.book.line_items[item_id] = item
        return t.cast(TLineItem, item)

    def update_lineitem(self, update_data: TLineItem) -> TLineItem:
        item_id = update_data["id"]
        with self.book.lock:
            if item_id not in self.book.line_items:
                raise LineItemNotFoundException(item_id)
            self.book.line_items[item_id] |= dict(update_data) | {
                "id": f"{self.lms.url}/lineitems/{item_id}"}
            return t.cast(TLineItem, self.book.line_items[item_id])

    def delete_lineitem(self, line_item_id: str) -> None:
        with self.book.lock:
            if self.book.line_items.pop(line_item_id, None) is None:
                raise LineItemNotFoundException(line_item_id)

    def update_score(self, line_item_id: str, score: TScore) -> UpdateScoreStatus:
        """As an LMS: only a learner of the course, one who launched where the platform asks
        it, gets a score; a score older than the one held is not applied."""
        user = str(score.get("userId", ""))
        member = next((m for m in ROSTER if m.sub == user), None)
        if member is None:
            raise LtiServiceException(f"User {user} is not in this course", 422)
        if LEARNER not in member.roles:
            raise LtiServiceException(f"User {user} is not a student of this course", 422)
        if self.lms.require_launch and user not in self.lms.launched:
            raise LtiServiceException(f"User {user} has not launched this tool", 422)
        for name in ("timestamp", "activityProgress", "gradingProgress"):
            if name not in score:
                raise LtiServiceException(f"A score needs {name}", 400)
        with self.book.lock:
            if line_item_id not in self.book.line_items:
                raise LineItemNotFoundException(line_item_id)
            held = self.book.results.get((line_item_id, user))
            if held is not None and _when(held) > _when(score):
                return UpdateScoreStatus.OLD_TIMESTAMP
            self.book.posted.append(dict(score) | {"lineItem": line_item_id})
            self.book.results[line_item_id, user] = dict(score)
        return UpdateScoreStatus.SUCCESS if held else UpdateScoreStatus.CREATED

    def get_results(self, line_item_id: str, page: int = 1, limit: int | None = None,
                    user_id: str | None = None) -> TPage:
        with self.book.lock:
            found = [{"userId": user, "resultScore": s.get("scoreGiven"),
                      "resultMaximum": s.get("scoreMaximum"), "comment": s.get("comment"),
                      "scoreOf": f"{self.lms.url}/lineitems/{item}"}
                     for (item, user), s in self.book.results.items()
                     if item == line_item_id and user_id in (None, user)]
        return {"content": found, "has_next": False}


class Roster(NamesRoleProvisioningService):
    """Names and Role Provisioning Services: the course's members, a page at a time."""

    def __init__(self, request: Call, lms: Platform) -> None:
        super().__init__(request, lms.course, f"{lms.url}/memberships")

    def get_member_data_page(self, page: int = 1, limit: int | None = None,
                             role: str | None = None, since: str | None = None) -> TPage:
        members = [m.nrps() for m in ROSTER if role is None or role in m.roles]
        size = limit or len(members)
        return {"content": members[(page - 1) * size:page * size],
                "has_next": page * size < len(members)}

    def get_context_by_id(self) -> Context:
        return CONTEXT


class Login(FastAPIOIDCLogin):
    def set_lti_message_hint(self, **kwargs: t.Any) -> None:
        self._lti_message_hint = kwargs["hint"]


class Launch(FastapiMessageLaunch, LTIAdvantageMessageLaunchAbstract):
    """The launch the OIDC authorization answers: the user the login named, in the course,
    with the AGS and NRPS claims a tool needs to post grades and read the roster."""

    def __init__(self, request: Request, lms: Platform, preflight: dict[str, t.Any]) -> None:
        super().__init__(request, lms.course)
        self.lms = lms
        self.preflight = preflight
        self.set_id_token_expiration(lms.id_token_ttl)

    def get_preflight_response(self) -> dict[str, t.Any]:
        return self.preflight

    def validate_preflight_response(self, preflight_response: dict[str, t.Any]) -> None:
        """The library's checks, and the one it leaves out: the id token goes only to the
        launch URL registered for the tool."""
        super().validate_preflight_response(preflight_response)
        if preflight_response.get("redirect_uri") != self.get_launch_url():
            raise LtiServiceException("redirect_uri is not the tool's launch URL", 400)

    def prepare_launch(self, preflight_response: dict[str, t.Any]) -> None:
        member = self.lms.member(preflight_response.get("login_hint", ""))
        if member is None:
            raise LtiServiceException("unknown login_hint", 400)
        self.set_user_data(member.sub, list(member.roles),
                           f"{member.given_name} {member.family_name}", member.email)
        self.set_extra_claims({"given_name": member.given_name,
                               "family_name": member.family_name})
        self.set_launch_context_claim(CONTEXT.id, context_title=CONTEXT.title,
                                      context_label=CONTEXT.label)
        self.set_resource_link_claim(RESOURCE_LINK, title="Keras course")
        self.set_extra_claims(self.lms.claims())
        self.lms.launched.add(member.sub)

    def generate_launch_request(self) -> t.Any:
        if self.lms.launch_key is None:
            return super().generate_launch_request()
        message, state = self.get_launch_data()  # signed with a key the tool does not know
        now = int(time.time())
        message |= {"iat": now, "exp": now + self.lms.id_token_ttl}
        kid = self.lms.course.get_registration().get_kid()
        return {"state": state, "id_token": jwt.encode(
            message, pem(self.lms.launch_key), "RS256", headers={"kid": kid})}


def _answer(resp: LtiResponse) -> Response:
    """The library's answer as HTTP: a page of results carries its next page in a Link
    header (NRPS and AGS ask for one), an error its message."""
    if resp.code >= 400:
        return JSONResponse({"error": resp.message}, status_code=resp.code)
    if resp.result is None:
        return Response(status_code=resp.code, media_type=resp.media_type)
    result = resp.result
    headers = {}
    if isinstance(result, dict) and result.get("next"):
        headers["Link"] = generate_next_link(result["next"])
    if isinstance(result, dict) and "content" in result:  # a page of line items or results
        result = result["content"]
    return JSONResponse(result, status_code=resp.code, headers=headers,
                        media_type=resp.media_type)


class Platform:
    """The LMS, serving on loopback from a thread of the test's process."""

    def __init__(self) -> None:
        self.key = new_key()
        self.tool_key = new_key()  # the tool's pair; the tool reads tool_key_pem()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.gradebook = Gradebook()
        self.launched: set[str] = set()
        self.fail_posts = 0
        self.require_launch = False
        self.launch_key: rsa.RSAPrivateKey | None = None
        self.id_token_ttl = 300
        self.course = Course(lms=self)
        self.app = self._routes()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # What a tool is configured with
    @property
    def jwks_url(self) -> str:
        return f"{self.url}/jwks"

    @property
    def token_url(self) -> str:
        return f"{self.url}/token"

    @property
    def auth_url(self) -> str:
        return f"{self.url}/authorize"

    def tool_key_pem(self) -> str:
        return pem(self.tool_key)

    def claims(self) -> dict[str, t.Any]:
        """The AGS and NRPS claims a launch carries (Launch.prepare_launch), as a tool keeps
        them."""
        return (LtiAgs(f"{self.url}/lineitems", allow_creating_lineitems=True)
                .get_lti_ags_launch_claim()
                | LtiNrps(f"{self.url}/memberships").get_lti_nrps_launch_claim())

    def register_tool(self, login_url: str, launch_url: str) -> None:
        """The tool's OIDC login (initiation) and launch (redirect) URLs: a hub's."""
        self.course.get_registration().set_oidc_login_url(login_url).set_launch_url(launch_url)

    def member(self, sub: str) -> Member | None:
        return next((m for m in ROSTER if m.sub == sub), None)

    def login_url(self, sub: str) -> str:
        """Where a browser starts a launch as this user (the LMS's link to the tool)."""
        return f"{self.url}/launch/{sub}"

    # Switches
    def revoke_tokens(self) -> None:
        with self.gradebook.lock:
            self.course.revoked |= self.course.issued

    def up(self) -> None:
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the LTI platform did not start on port {self.port}")
            time.sleep(0.02)

    def down(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(20)
            self._server = self._thread = None

    def _routes(self) -> FastAPI:
        app = FastAPI()

        @app.middleware("http")
        async def faults(request: Request, call_next: t.Any) -> Response:
            if (request.method == "POST" and request.url.path.startswith("/lineitems")
                    and self.fail_posts > 0):
                self.fail_posts -= 1
                return JSONResponse({"error": "Internal Server Error"}, status_code=500)
            return await call_next(request)

        @app.get("/jwks")
        def jwks() -> dict[str, t.Any]:
            return dict(self.course.get_jwks())

        @app.post("/token")
        async def token(request: Request) -> Response:
            form = (await lti_call(request)).form_data
            try:
                return JSONResponse(dict(self.course.get_access_token(form)))
            except Exception as exc:  # the library's refusals: RFC 6749's invalid_client
                return JSONResponse({"error": "invalid_client",
                                     "error_description": str(exc) or type(exc).__name__},
                                    status_code=400)

        @app.get("/launch/{sub}")
        def launch(sub: str) -> Response:
            login = Login(None, self.course)
            login.set_lti_message_hint(hint=RESOURCE_LINK)
            return t.cast(Response, login.initiate_login(sub))

        @app.api_route("/authorize", methods=["GET", "POST"])
        async def authorize(request: Request) -> Response:
            call = await lti_call(request)
            preflight = call.get_data | call.form_data
            try:
                return t.cast(Response, Launch(request, self, preflight).lti_launch())
            except Exception as exc:  # a refused preflight: the OIDC error answer
                return JSONResponse({"error": "invalid_request",
                                     "error_description": str(exc) or type(exc).__name__},
                                    status_code=400)

        @app.api_route("/lineitems", methods=["GET", "POST"])
        async def line_items(request: Request) -> Response:
            grades = Grades(await lti_call(request), self)
            handle = (grades.handle_create_lineitem if request.method == "POST"
                      else grades.handle_get_lineitems)
            return _answer(grades.handle_resp(handle))

        @app.api_route("/lineitems/{item}", methods=["GET", "PUT", "DELETE"])
        async def line_item(item: str, request: Request) -> Response:
            grades = Grades(await lti_call(request), self, item)
            handle = {"GET": grades.handle_get_lineitem, "PUT": grades.handle_update_lineitem,
                      "DELETE": grades.handle_delete_lineitem}[request.method]
            return _answer(grades.handle_resp(handle, line_item_id=item))

        @app.post("/lineitems/{item}/scores")
        async def scores(item: str, request: Request) -> Response:
            grades = Grades(await lti_call(request), self, item)
            return _answer(grades.handle_resp(grades.handle_update_score, line_item_id=item))

        @app.get("/lineitems/{item}/results")
        async def results(item: str, request: Request) -> Response:
            grades = Grades(await lti_call(request), self, item)
            return _answer(grades.handle_resp(grades.handle_get_results, line_item_id=item))

        @app.get("/memberships")
        async def memberships(request: Request) -> Response:
            roster = Roster(await lti_call(request), self)
            return _answer(roster.handle_resp(roster.handle_get_members))

        return app
