"""The LTI tests' platform: a real LTI 1.3 LMS (lti_platform.py) serving on loopback, with its
own keys, the course's roster of three (two learners, one instructor) and a gradebook a test
reads back; and the tool's side, as an instructor registers it (lti_course.py).

`lms` is the running platform; `course` a course folder registered with `lms` (fast retries,
a launch's claims in place) whose gradebook lti_course's `grade()` fills; `tool_key` the
tool's private key file in it (.kerasgrade/lti/, 0600, as the settings demand).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from lti_course import make_course, platform_up
from lti_platform import ROSTER, Platform

from kerasgrade.lti.settings import KEY

ADA, ALAN, GRACE = ROSTER  # two learners, one instructor


@pytest.fixture
def lms() -> Iterator[Platform]:
    with platform_up() as platform:
        yield platform


@pytest.fixture
def course(lms: Platform, tmp_path: Path) -> Path:
    return make_course(lms, tmp_path / "course")


@pytest.fixture
def tool_key(course: Path) -> Path:
    return course / KEY
