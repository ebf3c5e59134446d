"""The throughput benchmark prints a speedup only from legs that graded the whole class (#25).

A leg that exits with another code than its grader's own, leaves a student without a score or
gives a score other than the expected one makes the benchmark name the leg and why, show its
last lines, print no speedup and exit 1.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from classroom import AID, REPO, load_script

BENCH = REPO / "bench" / "grade_throughput.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_script(BENCH)


@pytest.mark.slow  # `kerasgrade grade` starts: seconds
def test_a_refused_batch_is_a_failed_leg_with_its_reason(bench: ModuleType,
                                                         tmp_path: Path) -> None:
    """The real refusal of `kerasgrade grade` (no submitted/ folder: exit 2 in seconds) is a
    failed leg whose message carries the grader's own first line."""
    log = tmp_path / "kerasgrade-2.log"
    with log.open("w") as out:
        rc = subprocess.run([sys.executable, "-m", "kerasgrade", "grade", AID, "--root",
                             str(tmp_path)], stdout=out, stderr=subprocess.STDOUT).returncode
    assert rc == 2
    run = bench.Run("kerasgrade grade --workers 2", 2, log, seconds=3.0, returncode=rc)
    expected = {"s01_solution": 14.0, "s02_dense_32": 11.0}
    found = bench.problems(run, expected, frozenset({0}))
    assert found == ["exit code 2", "2 of 2 students have no score (s01_solution, s02_dense_32)"]
    with pytest.raises(bench.LegFailed) as failed:
        bench.checked(run, expected)
    message = str(failed.value)
    assert message.startswith("leg failed: kerasgrade grade --workers 2: exit code 2;")
    assert (f"  | kerasgrade grade: refused, nothing graded: {tmp_path / 'submitted'} does not "
            "exist") in message


def test_a_wrong_score_fails_the_leg_and_a_whole_class_passes(bench: ModuleType,
                                                              tmp_path: Path) -> None:
    expected = {"s01_solution": 14.0, "s12_blank": 0.0}
    good = bench.Run("nbgrader autograde (sequential)", 1, tmp_path / "none.log",
                     returncode=1, scores=dict(expected))
    # nbgrader exits 1 after an unreadable notebook: accepted only where the class has one.
    assert bench.problems(good, expected, frozenset({0, 1})) == []
    assert bench.problems(good, expected, frozenset({0})) == ["exit code 1"]
    wrong = bench.Run("kerasgrade grade --workers 1", 1, tmp_path / "none.log",
                      scores={"s01_solution": 0.0, "s12_blank": 0.0})
    assert bench.problems(wrong, expected, frozenset({0})) == [
        "scores other than expected: s01_solution 0 (expected 14)"]
    with pytest.raises(bench.LegFailed, match=r"\(no output\)"):
        bench.checked(wrong, expected)


@pytest.mark.slow
def test_the_benchmark_with_a_broken_leg_exits_non_zero_without_a_speedup(
        tmp_path: Path) -> None:
    """The whole benchmark, one student on the sample, with the data taken away on purpose:
    the first leg grades nothing right, so no figure is printed and the exit code says so."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("KERASGRADE_DATA_DIR", "KERAS_HOME", "KERASGRADE_SHARED_DATA")}
    env |= {"KERASGRADE_NO_SAMPLE": "1", "KERASGRADE_OFFLINE": "1", "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, str(BENCH), "--students", "1", "--workers", "1",
                           "--no-dask", "--sample", "--keep", str(tmp_path / "bench")],
                          capture_output=True, text=True, timeout=900, env=env, cwd=REPO)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    assert "speedup_vs_nbgrader" not in out
    assert "scaling:" not in out
    assert "leg failed: nbgrader autograde (sequential): " in proc.stderr
    assert "s01_solution 0 (expected 14)" in proc.stderr
    assert "its last lines (" in proc.stderr
    assert "no speedup is printed" in proc.stderr
    # It stopped at the failed leg: no kerasgrade leg ran after it.
    assert not (tmp_path / "bench" / "kerasgrade-1.log").exists()


def test_queue_efficiency_is_the_ideal_makespan_over_the_measured_one(
        bench: ModuleType) -> None:
    """Two workers, three submissions of 60, 30 and 30 s: continuous dispatch starts the third
    when the second ends (no worker waits: 1.0); rounds would start it when the first ends."""
    latency = load_script(REPO / "bench" / "submit_latency.py")  # finds `bench`'s module

    def told(spans: dict[str, tuple[float, float]]) -> list[dict[str, object]]:
        return [{"event": event, "inbound": name, "time": at}
                for name, (begun, ended) in spans.items()
                for event, at in (("started", begun), ("graded", ended))]

    assert latency.queue_efficiency(told({"a": (0, 60), "b": (0, 30), "c": (30, 60)}), 2) == 1
    assert latency.queue_efficiency(told({"a": (0, 60), "b": (0, 30), "c": (60, 90)}), 2) \
        == pytest.approx(120 / 2 / 90)
    assert latency.queue_efficiency([], 2) == 0
