"""Assignment and Grade Services: one line item per assignment, found by its resourceId and
tag before one is made (a second line item is a second gradebook column), and its scores."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from kerasgrade.lti.client import Lms, Retry, body

LINEITEM = "application/vnd.ims.lis.v2.lineitem+json"
LINEITEMS = "application/vnd.ims.lis.v2.lineitemcontainer+json"
SCORE = "application/vnd.ims.lis.v1.score+json"
TAG = "kerasgrade"  # the line items this tool made, among the course's others


def line_item(lms: Lms, lineitems_url: str, assignment: str, label: str,
              maximum: float) -> str:
    """The URL of the assignment's line item, made if the LMS has none yet."""
    for page in lms.pages(lineitems_url, LINEITEMS, {"resource_id": assignment, "tag": TAG}):
        for item in page if isinstance(page, list) else []:
            if (isinstance(item, dict) and item.get("resourceId") == assignment
                    and item.get("tag") == TAG and item.get("id")):
                return str(item["id"])
    made = lms.call("POST", lineitems_url, LINEITEM, {
        "label": label, "scoreMaximum": maximum, "resourceId": assignment, "tag": TAG},
        content_type=LINEITEM)
    item = body(made)
    if not isinstance(item, dict) or not item.get("id"):
        raise Retry(f"the LMS made the line item of {assignment} but sent no id for it")
    return str(item["id"])


def scores_url(item_url: str) -> str:
    """The line item's URL with /scores after its path, its query kept (AGS 3.4)."""
    parts = urlsplit(item_url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/scores"))


def post_score(lms: Lms, item_url: str, score: dict[str, Any]) -> None:
    lms.call("POST", scores_url(item_url), "application/json", score, content_type=SCORE)
