"""Where the LMS's services are: the AGS and NRPS claims the latest launch brought
(.kerasgrade/lti/context.json, written by the hub's launch), else the settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kerasgrade.lti.outbox import STATE
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
