"""docs/scale.md's sizing table is what bench/sizing.py computes from the measured figures,
and the arithmetic holds what the model says."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from classroom import REPO, load_script

from kerasgrade.course import assignments
from kerasgrade.course.assignments import PREPARING_DATA

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


@pytest.mark.slow  # a zygote, a kernel and a measuring process: seconds
def test_one_grading_prints_its_seconds_and_the_worker_trees_peak(tmp_path: Path) -> None:
    """bench/one_grading.py, the source of docs/scale.md's 03 figures, on 01 (an empty data
    folder: the sample, where no other copy is found): the solution's full marks, its seconds,
    and a peak that holds a worker with TensorFlow imported (no such tree fits in 300 MB)."""
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "one_grading.py"), "--assignment",
         PREPARING_DATA, "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    last = done.stdout.strip().splitlines()[-1]
    found = re.fullmatch(rf"assignment: {PREPARING_DATA} score: (\S+)/(\S+) grading_s: (\S+) "
                         r"training_s: (\S+) worker_peak_gb: (\S+)", last)
    assert found, last
    score, top, grading, training, peak = map(float, found.groups())
    assert score == top == assignments.get(PREPARING_DATA).max_score
    assert 0 < grading < 300 and 0 <= training <= grading
    assert 0.3 < peak < 8, last
    assert done.stdout.startswith(f"{PREPARING_DATA} on 1 thread(s), data: "), done.stdout
