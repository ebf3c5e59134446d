"""Send what is due in the outbox to the LMS: the line item found or made once, then the
score. A failure of the LMS itself stops the round (the next scores would meet the same);
a refusal concerns one score and the round goes on."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kerasgrade.lti import ags
from kerasgrade.lti.client import Lms, Refused, Retry
from kerasgrade.lti.outbox import STATE, Outbox, Row
from kerasgrade.lti.settings import KerasgradeLti, LtiProblem

CONTEXT = STATE / "context.json"  # the AGS and NRPS claims of the latest launch
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"


def _claims(root: Path) -> dict[str, Any]:
    try:
        claims = json.loads((root / CONTEXT).read_text())
    except (OSError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def lineitems_url(root: Path, lti: KerasgradeLti) -> str:
    """The line items URL a launch brought (context.json), else the settings'."""
    url = (_claims(root).get(AGS_CLAIM) or {}).get("lineitems") or lti.lineitems_url
    if not url:
        raise LtiProblem("no line items URL yet: launch the tool once from the LMS course, or "
                         "set c.KerasgradeLti.lineitems_url")
    return str(url)


def memberships_url(root: Path, lti: KerasgradeLti) -> str:
    claim = _claims(root).get(NRPS_CLAIM) or {}
    url = claim.get("context_memberships_url") or lti.memberships_url
    if not url:
        raise LtiProblem("no members URL yet: launch the tool once from the LMS course, or set "
                         "c.KerasgradeLti.memberships_url")
    return str(url)


@dataclass
class Round:
    sent: int = 0
    refused: list[str] = field(default_factory=list)
    waiting: str = ""  # why the round stopped early


def backoff(lti: KerasgradeLti, tries: int) -> float:
    return min(lti.retry_max_seconds, lti.retry_seconds * 2 ** min(tries, 30))


def send_due(root: Path, outbox: Outbox, lms: Lms, lti: KerasgradeLti) -> Round:
    done = Round()
    for row in outbox.due(time.time()):
        try:
            _send(root, outbox, lms, row)
        except (Retry, LtiProblem) as exc:  # the LMS (or the tool's registration) is unwell
            outbox.retry(row, time.time() + backoff(lti, row.tries), str(exc))
            done.waiting = str(exc)
            break
        except Refused as exc:
            if exc.status == 409:  # the LMS holds a newer score: this one is history
                outbox.sent(row, time.time(), f"the LMS kept a newer score: {exc}")
                continue
            why = f"the LMS refused it ({exc.status}): {exc}"
            outbox.refuse(row, time.time(), why)
            done.refused.append(f"{row.score.student} {row.score.assignment}: {why}")
            continue
        outbox.sent(row, time.time())
        done.sent += 1
    return done


def _send(root: Path, outbox: Outbox, lms: Lms, row: Row) -> None:
    score = row.score
    item = outbox.line_item(score.assignment)
    if item is None:
        item = ags.line_item(lms, lineitems_url(root, lms.lti), score.assignment, score.label,
                             score.maximum)
        outbox.keep_line_item(score.assignment, item)
    try:
        ags.post_score(lms, item, score.body())
    except Refused as exc:
        if exc.status != 404:
            raise
        # The line item is gone from the LMS (deleted by hand): found or made again next time.
        outbox.keep_line_item(score.assignment, None)
        raise Retry(f"the line item of {score.assignment} is gone from the LMS") from exc
