"""The LTI tests' platform: a real LTI 1.3 LMS (lti_platform.py) serving on loopback, with its
own keys, the course's roster of three (two learners, one instructor) and a gradebook a test
reads back; and the tool's side of the registration, as an instructor configures it.

`lms` is the running platform; `tool_key` the tool's private key file (0600, as the settings
demand); `lti_config(lms, key)` the lines of nbgrader_config.py that register the tool with
it; `write_context(course, lms)` what a launch leaves for the service (the AGS and NRPS
claims, .kerasgrade/lti/context.json).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from lti_platform import CLIENT_ID, DEPLOYMENT_ID, ISSUER, Platform

CONTEXT_FILE = Path(".kerasgrade") / "lti" / "context.json"


@pytest.fixture
def lms() -> Iterator[Platform]:
    platform = Platform()
    platform.up()
    try:
        yield platform
    finally:
        platform.down()


@pytest.fixture
def tool_key(lms: Platform, tmp_path: Path) -> Path:
    path = tmp_path / "secrets" / "lti-tool-key.pem"
    path.parent.mkdir(mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(lms.tool_key_pem())
    return path


def lti_settings(lms: Platform, key: Path) -> dict[str, str]:
    """The tool's registration with this platform: c.KerasgradeLti's traits."""
    return {"issuer": ISSUER, "client_id": CLIENT_ID, "deployment_id": DEPLOYMENT_ID,
            "jwks_url": lms.jwks_url, "token_url": lms.token_url, "auth_url": lms.auth_url,
            "private_key": str(key)}


def lti_config(lms: Platform, key: Path) -> str:
    """The nbgrader_config.py lines that register the tool with this platform."""
    return "".join(f"c.KerasgradeLti.{name} = {value!r}\n"
                   for name, value in lti_settings(lms, key).items())


def write_context(course: Path, lms: Platform) -> Path:
    """The claims a launch into the course leaves for the service, as the launch keeps them."""
    path = course / CONTEXT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(lms.claims(), indent=1))
    return path
