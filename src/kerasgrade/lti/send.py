"""Send what is due in the outbox to the LMS: the line item found or made once, then the
score. A failure of the LMS itself stops the round (the next scores would meet the same);
a refusal concerns one score and the round goes on."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from kerasgrade.lti import ags
from kerasgrade.lti.client import Lms, Refused, Retry
from kerasgrade.lti.context import lineitems_url
from kerasgrade.lti.outbox import Outbox, Row
from kerasgrade.lti.settings import KerasgradeLti, LtiProblem


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
        # Held for as long as a send can take: the line item's calls, the score's, a token.
        if not outbox.claim(row, time.time() + lti.timeout_seconds * 6):
            continue
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
