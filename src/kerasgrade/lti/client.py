"""One call to the LMS's services with the tool's token: a refused token renewed once; the
answer sorted into done, try again later (Retry), or refused for good (Refused)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import requests

from kerasgrade.lti.settings import KerasgradeLti
from kerasgrade.lti.token import Tokens
from kerasgrade.report.text import printable

MAX_PAGES = 1000  # a platform whose pages never end is not followed forever


class Retry(Exception):
    """The LMS is away, failing (5xx, 429) or refusing the tool's token: try again later."""


class Refused(Exception):
    """The LMS refused this request for good (4xx): its reason, for the instructor."""

    def __init__(self, reason: str, status: int) -> None:
        super().__init__(reason)
        self.status = status


def _reason(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return printable(resp.text, 300) or resp.reason
    if isinstance(body, dict):
        for key in ("error_description", "error", "message", "errors"):
            if body.get(key):
                return printable(json.dumps(body[key]) if not isinstance(body[key], str)
                                 else body[key], 300)
    return printable(resp.text, 300)


def body(resp: requests.Response) -> Any:
    """The answer's JSON; an answer that is not JSON is the LMS misbehaving: try later."""
    try:
        return resp.json()
    except ValueError:
        raise Retry(f"the LMS answered {resp.status_code} with no JSON: "
                    f"{printable(resp.text, 120)}") from None


class Lms:
    def __init__(self, lti: KerasgradeLti) -> None:
        self.lti = lti
        self.session = requests.Session()
        self.tokens = Tokens(lti, self.session)

    def close(self) -> None:
        self.session.close()

    def call(self, method: str, url: str, accept: str, body: Any = None,
             content_type: str = "", params: dict[str, str] | None = None
             ) -> requests.Response:
        for renewed in (False, True):
            try:
                headers = {"Authorization": f"Bearer {self.tokens.get()}", "Accept": accept}
                if content_type:
                    headers["Content-Type"] = content_type
                resp = self.session.request(
                    method, url, headers=headers, params=params,
                    data=None if body is None else json.dumps(body),
                    timeout=self.lti.timeout_seconds)
            except requests.RequestException as exc:
                raise Retry(f"the LMS cannot be reached: {type(exc).__name__}") from exc
            if resp.status_code == 401 and not renewed:
                self.tokens.refused()  # stale or revoked: one new token, one more try
                continue
            if resp.status_code == 401 or resp.status_code == 429 or resp.status_code >= 500:
                raise Retry(f"the LMS answered {resp.status_code}: {_reason(resp)}")
            if resp.status_code >= 400:
                raise Refused(_reason(resp), resp.status_code)
            return resp
        raise AssertionError("unreachable")

    def pages(self, url: str, accept: str, params: dict[str, str] | None = None
              ) -> Iterator[Any]:
        """Each page's JSON, following the Link header's rel=next (NRPS, AGS)."""
        next_url: str | None = url
        for _ in range(MAX_PAGES):
            if not next_url:
                return
            resp = self.call("GET", next_url, accept, params=params)
            params = None  # the next link carries the query
            yield body(resp)
            next_url = resp.links.get("next", {}).get("url")
