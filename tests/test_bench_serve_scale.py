"""bench/serve_scale.py run small (fast: in process, entries complete at once): its last line
holds every figure, each new entry is queued, and the queue's work does not grow with it."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
from classroom import REPO, load_script

from kerasgrade.frontends.serve import inbound

BENCH = REPO / "bench" / "serve_scale.py"
LAST = re.compile(
    r"old_entries: 100 polls: 8 scan_p50_ms: (?P<p50>[\d.]+) scan_p95_ms: (?P<p95>[\d.]+) "
    r"listing_p95_ms: [\d.]+ target_ms: 50 missed: 0 queue_entries: 200 due_ms: [\d.]+ "
    r"due_steps_per_entry: [\d.]+ due_growth: (?P<due>[\d.]+) add_steps: \d+ "
    r"add_growth: (?P<add>[\d.]+)")


def load() -> ModuleType:
    return load_script(BENCH)


def test_the_scale_benchmark_prints_its_figures_on_one_last_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(inbound, "SETTLE_SECONDS", 0.0)  # no second's wait per new entry
    monkeypatch.setattr(sys, "argv", [str(BENCH), "--old", "100", "--new", "2", "--polls", "8",
                                      "--poll", "0", "--queue", "200", "--keep",
                                      str(tmp_path / "bench")])
    assert load().main() == 0
    last = capsys.readouterr().out.splitlines()[-1]
    found = LAST.fullmatch(last)
    assert found, last
    assert float(found["p50"]) <= float(found["p95"])
    # SQLite's steps, not times: a due() or an add() that read the whole table would grow
    # about tenfold from 20 entries to 200.
    assert float(found["due"]) < 2 and float(found["add"]) < 2, last
    assert len(list((tmp_path / "bench" / "scan" / "exchange" / "kerasgrade" / "inbound"
                     ).iterdir())) == 102
