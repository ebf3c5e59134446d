"""Where the LMS's services are: the AGS and NRPS claims the latest launch brought
(.kerasgrade/lti/context.json, written by the hub's launch), else the settings."""

from __future__ import annotations

from pathlib import Path

from kerasgrade.lti.launches import AGS_CLAIM, NRPS_CLAIM, read_context
from kerasgrade.lti.settings import KerasgradeLti, LtiProblem


def lineitems_url(root: Path, lti: KerasgradeLti) -> str:
    """The line items URL a launch brought (context.json), else the settings'."""
    url = (read_context(root).get(AGS_CLAIM) or {}).get("lineitems") or lti.lineitems_url
    if not url:
        raise LtiProblem("no line items URL yet: launch the tool once from the LMS course, or "
                         "set c.KerasgradeLti.lineitems_url")
    return str(url)


def memberships_url(root: Path, lti: KerasgradeLti) -> str:
    claim = read_context(root).get(NRPS_CLAIM) or {}
    url = claim.get("context_memberships_url") or lti.memberships_url
    if not url:
        raise LtiProblem("no members URL yet: launch the tool once from the LMS course, or set "
                         "c.KerasgradeLti.memberships_url")
    return str(url)
