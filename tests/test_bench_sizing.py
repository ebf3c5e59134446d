"""docs/scale.md's sizing table is what bench/sizing.py computes from the measured figures,
and the arithmetic holds what the model says."""

from __future__ import annotations

import subprocess
import sys
from types import ModuleType

import pytest
from classroom import REPO, load_script

SIZING = REPO / "bench" / "sizing.py"


@pytest.fixture(scope="module")
def sizing() -> ModuleType:
    return load_script(SIZING)


def test_the_documented_table_is_the_computed_one() -> None:
    printed = subprocess.run([sys.executable, str(SIZING)], capture_output=True, text=True,
                             check=True).stdout.strip()
    assert printed in (REPO / "docs" / "scale.md").read_text()


def test_cores_do_the_hours_work_at_most_70_percent_busy(sizing: ModuleType) -> None:
    for students in (10, 100, 500, 2000, 5000):
        made = sizing.plan("a", students, 30.0, 1.5, 1.5, 0.3, 16)
        work = students * 1.5 * 30.0
        assert work / (made.cores * 3600) <= 0.7 < work / (max(1, made.cores - 1) * 3600) \
            or made.cores == 1
        assert made.machines == -(-made.cores // 16)
        assert made.gb == pytest.approx(made.cores * 1.5 + 1.0)


def test_a_crowded_last_window_is_graded_after_the_deadline(sizing: ModuleType) -> None:
    """Half of the hour's submissions in its last 10 minutes: more than the cores sized for
    the hour can grade in them; a tenth: none left over."""
    crowded = sizing.plan("a", 2000, 30.0, 1.5, 0.5, 0.5, 16)
    assert crowded.last_feedback_min > 0
    late_s = 2000 * 0.5 * 0.5 * 30.0 / crowded.cores - 600  # students x per student x share
    assert crowded.last_feedback_min == pytest.approx(late_s / 60)
    assert sizing.plan("a", 2000, 30.0, 1.5, 0.5, 0.1, 16).last_feedback_min == 0
