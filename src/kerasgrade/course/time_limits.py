"""Each assignment's time limits, course data: derived from its reference solution's measured
times (time_limits.json, beside assignments.toml), per data source."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kerasgrade import data, environment
from kerasgrade.artifacts import Facts, ReferenceTime
from kerasgrade.course import assignments
from kerasgrade.course.assignments import Assignment

# Written by `kerasgrade course build` (python -m kerasgrade.course time ID measures one):
#   {assignment: {"measured": {data source: {"cell": s, "notebook": s}},
#                 "cell_seconds": s, "notebook_seconds": s}}   (the last two: optional,
# set by hand to override the limits derived from the measurements)
TIME_LIMITS_FILE = Path(__file__).with_name("time_limits.json")
# A limit is this many times the reference solution's time on the data source served: a
# machine three times slower (or busier) than the one the course was built on still grades
# the reference fully, and an endless loop costs minutes, not the old flat 10.
LIMIT_FACTOR = 3
CELL_FLOOR = 60.0  # seconds: importing TensorFlow on a busy machine alone can take 20
NOTEBOOK_FLOOR = 180.0  # kernel start, setup cell and export come on top of the cells
UNMEASURED = (600.0, 900.0)  # an assignment whose reference was never timed
# The grading machine's own cell limit, for every assignment and front end (nbgrader too).
CELL_TIMEOUT_ENV = environment.CELL_TIMEOUT


@dataclass(frozen=True)
class TimeLimits:
    cell: float  # seconds per cell; a cell over it is interrupted and the run goes on
    notebook: float  # seconds for the whole run (and for measuring its model)


def recorded_times() -> dict[str, Any]:
    try:
        return json.loads(TIME_LIMITS_FILE.read_text())
    except FileNotFoundError:
        return {}


def _measured(entry: dict[str, Any], data_source: str | None) -> dict[str, dict[str, float]]:
    """The reference's runs a limit is derived from: on data_source when it was measured
    there, else on every source measured (the slowest counts: full data takes longer than the
    sample)."""
    measured = entry.get("measured", {})
    return {data_source: measured[data_source]} if data_source in measured else measured


def source_limits(assignment_id: str, data_source: str | None = None) -> TimeLimits:
    """The cell and notebook limits of an assignment (see TIME_LIMITS_FILE), from the
    reference's times (_measured)."""
    entry = recorded_times().get(assignment_id, {})
    runs = list(_measured(entry, data_source).values())
    if runs:
        cell = max(CELL_FLOOR, LIMIT_FACTOR * max(m["cell"] for m in runs))
        notebook = max(NOTEBOOK_FLOOR, LIMIT_FACTOR * max(m["notebook"] for m in runs))
    else:
        cell, notebook = UNMEASURED
    cell = float(entry.get("cell_seconds") or cell)
    return TimeLimits(cell, max(cell, float(entry.get("notebook_seconds") or notebook)))


def reference_cell(assignment_id: str, data_source: str | None) -> ReferenceTime | None:
    """The reference solution's slowest cell, from the runs the cell limit is derived from,
    and the data it was measured on; None for an assignment never timed."""
    runs = _measured(recorded_times().get(assignment_id, {}), data_source)
    if not runs:
        return None
    source = max(runs, key=lambda s: runs[s]["cell"])
    return {"seconds": float(runs[source]["cell"]), "data_source": source}


def note_reference(facts: Facts, spec: Assignment) -> Facts:
    """The facts with, beside the cells a run stopped at the time limit, the reference's time
    to compare (new facts: the ones given stay as they were)."""
    execution = facts.get("execution") or {}
    if execution.get("timed_out") and (
            reference := reference_cell(spec.id, facts.get("data_source"))):
        return {**facts, "execution": {**execution, "reference": reference}}
    return facts


def record_time(assignment_id: str, data_source: str, cell: float, notebook: float) -> None:
    """Store a reference run's slowest cell and whole time, keeping every other entry."""
    times = recorded_times()
    entry = times.setdefault(assignment_id, {})
    entry.setdefault("measured", {})[data_source] = {"cell": round(cell, 1),
                                                     "notebook": round(notebook, 1)}
    TIME_LIMITS_FILE.write_text(json.dumps(times, indent=2, sort_keys=True) + "\n")


def time_limits(assignment_id: str, data_dir: Path | None = None) -> TimeLimits:
    """The assignment's time limits for the data a run gets here: what every front end uses."""
    return spec_time_limits(assignments.get(assignment_id), data_dir)


def spec_time_limits(spec: Assignment, data_dir: Path | None = None) -> TimeLimits:
    """time_limits of an assignment already looked up. CELL_TIMEOUT_ENV, when set, is the cell
    limit of every assignment (the notebook's stays)."""
    source = data.local_source(spec.dataset, data_dir)
    limits = source_limits(spec.id, source)
    given = os.environ.get(CELL_TIMEOUT_ENV)
    if not given:
        return limits
    try:
        return TimeLimits(float(given), limits.notebook)
    except ValueError:
        raise ValueError(f"{CELL_TIMEOUT_ENV} must be a number of seconds, not {given!r}"
                         ) from None
