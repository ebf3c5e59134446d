"""`kerasgrade lti roster | sync ASSIGNMENT | outbox | jwk`: the instructor's side."""

from __future__ import annotations

import json
import time
from pathlib import Path

from nbgrader.api import MissingEntry

from kerasgrade.course.assignments import Assignment
from kerasgrade.lti import grades, nrps
from kerasgrade.lti.client import Lms, Refused, Retry
from kerasgrade.lti.launches import rule_problem
from kerasgrade.lti.outbox import REFUSED, WAITING, Outbox
from kerasgrade.lti.send import send_due
from kerasgrade.lti.settings import KerasgradeLti, LtiProblem, of_course
from kerasgrade.lti.token import public_jwk, tool_key
from kerasgrade.report.gradebook import CourseSettings, course_settings
from kerasgrade.report.text import say


def _load(root: Path) -> tuple[KerasgradeLti, CourseSettings]:
    from kerasgrade import settings

    ours, app = settings.load(root)
    lti = of_course(root, app)
    lti.check()
    if problem := rule_problem(root, lti.user_id):
        raise LtiProblem(problem)
    return lti, course_settings(root, ours.db or None, app.config)




def roster(root: Path) -> int:
    lti, course = _load(root)
    lms = Lms(lti)
    try:
        change = nrps.refresh(root, lti, lms, course)
    except (Retry, Refused) as exc:
        raise LtiProblem(f"the LMS's roster could not be read: {exc}") from exc
    finally:
        lms.close()
    for line in change.lines():
        say(line)
    return 1 if change.unusable else 0


def sync(root: Path, spec: Assignment) -> int:
    """Every student's score on the assignment into the outbox (the same grade twice is one),
    then one round of sending."""
    lti, course = _load(root)
    outbox = Outbox(root)
    lms = Lms(lti)
    try:
        with course.open() as gb:
            try:
                gb.find_assignment(spec.id)
            except MissingEntry:
                raise LtiProblem(f"the gradebook has no assignment {spec.id!r}") from None
            found = [s for s in (grades.score(gb, lti, spec, st.id) for st in gb.students)
                     if s is not None]
        added = [outbox.add(s, time.time()) for s in found]
        # Refused before the LMS is asked (no LMS user, never launched): told with the rest.
        unsent = [f"{s.student} {s.assignment}: {outbox.reason(s.student, s.assignment)}"
                  for s, outcome in zip(found, added, strict=True) if outcome == REFUSED]
        done = send_due(root, outbox, lms, lti)
        waiting = outbox.count(WAITING)
    finally:
        lms.close()
        outbox.close()
    say(f"{spec.id}: {len(found)} grade(s); {added.count('duplicate')} already with the LMS "
        f"or waiting, {done.sent} sent now")
    for line in unsent + done.refused:
        say(f"refused: {line}")
    if waiting:
        say(f"{waiting} score(s) wait ({done.waiting or 'not due yet'}): `kerasgrade serve` "
            "sends them, or run this again")
    return 1 if unsent or done.refused or waiting else 0


def listing(root: Path) -> int:
    outbox = Outbox(root)
    try:
        rows = outbox.listing()
    finally:
        outbox.close()
    for row in rows:
        s = row.score
        at = time.strftime("%H:%M:%S", time.localtime(row.due))
        when = "refused" if row.state != WAITING else f"waits, try {row.tries + 1} at {at}"
        say(f"{s.student}  {s.assignment}  {s.given:g}/{s.maximum:g}  {when}"
            + (f": {row.reason}" if row.reason else ""))
    say(f"{sum(r.state == WAITING for r in rows)} waiting, "
        f"{sum(r.state != WAITING for r in rows)} refused")
    return 0


def jwk(root: Path, pem: bool = False) -> int:
    """The tool's public key: a JWK (Canvas's "Public JWK"), or PEM (Moodle's "RSA key")."""
    lti, _ = _load(root)
    print(tool_key(lti).as_pem(private=False).decode().strip() if pem
          else json.dumps(public_jwk(lti), indent=1))
    return 0
