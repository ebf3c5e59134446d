"""The fast tier's fixtures are current: re-recording a cheap case with the real grader gives the
facts stored in tests/fixtures/facts/ (scripts/record_facts.py; tests/checks/ reads them).

A change to what the grader measures (a fact renamed, added or computed differently) fails here
until the fixtures are recorded again: PYTHONPATH=src python3 scripts/record_facts.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from classroom import load_script

from kerasgrade import data

ROOT = Path(__file__).resolve().parents[1]
AID, CASE = "01-preparing-data", "solution"
FIXTURE = ROOT / "tests" / "fixtures" / "facts" / AID / f"{CASE}.json"

# Differ from run to run, or name this machine's paths; no check reads them.
VOLATILE = {
    ("seconds",),
    ("facts", "execution", "kernel_start_seconds"),
    ("facts", "execution", "peak_rss_mb"),
    ("facts", "execution", "total_seconds"),
}


def _stable(value: Any, path: tuple[str, ...] = ()) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v, (*path, k)) for k, v in value.items() if (*path, k) not in VOLATILE}
    return value


def _recorder() -> Any:
    return load_script(ROOT / "scripts" / "record_facts.py")


@pytest.mark.slow
def test_recorded_facts_are_current(tmp_path: Path) -> None:
    stored = json.loads(FIXTURE.read_text())
    if data.local_source("mnist") != stored["data_source"]:
        pytest.skip(f"the fixture was recorded on {stored['data_source']}; this machine serves "
                    f"{data.local_source('mnist')}")
    fresh = _recorder().record(AID, CASE, None, tmp_path)
    fresh = json.loads(json.dumps(fresh))  # as stored: tuples become lists
    assert _stable(fresh) == _stable(stored), (
        "the grader measures differently from the stored fixtures: re-record them with "
        "`PYTHONPATH=src python3 scripts/record_facts.py` and review the diff")
    # Key order too: a check may take the first array of a kind.
    assert list(fresh["facts"]) == list(stored["facts"])
