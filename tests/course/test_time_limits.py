"""Time limits come from the reference solution's measured time, the same in every front end
(issue 12, finding 4). The endless loop graded under them is in tests/sandbox/test_hostile.py,
and what a student reads of it in tests/frontends/test_time_limit_named.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from kerasgrade.course import build as course
from kerasgrade.course import time_limits as table
from kerasgrade.course.assignments import CONNECTED_NETWORKS, get
from kerasgrade.course.time_limits import (
    CELL_FLOOR,
    CELL_TIMEOUT_ENV,
    LIMIT_FACTOR,
    NOTEBOOK_FLOOR,
    time_limits,
)
from kerasgrade.frontends.nbgrader.kernel import kernel_limits
from kerasgrade.jobs.options import ExecOptions, with_limits

REPO = Path(__file__).resolve().parents[2]
AID = CONNECTED_NETWORKS


def test_limits_are_a_multiple_of_the_reference_time_per_data_source() -> None:
    measured = table.recorded_times()[AID]["measured"]
    assert {"mnist", "mnist-sample-5k"} <= set(measured), "time both sources: course build"
    for source, run in measured.items():
        limits = table.source_limits(AID, source)
        assert limits.cell == max(CELL_FLOOR, LIMIT_FACTOR * run["cell"])
        assert limits.notebook == max(NOTEBOOK_FLOOR, LIMIT_FACTOR * run["notebook"])
    # Full data takes longer: a source never timed gets the slowest one's limits.
    slowest = table.source_limits(AID, "mnist")
    assert table.source_limits(AID, "unknown") == slowest
    assert slowest.cell >= table.source_limits(AID, "mnist-sample-5k").cell


def test_limits_can_be_set_per_assignment(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    times = table.recorded_times()
    times[AID] |= {"cell_seconds": 42, "notebook_seconds": 99}
    path = tmp_path / "time_limits.json"
    path.write_text(json.dumps(times))
    monkeypatch.setattr(table, "TIME_LIMITS_FILE", path)
    assert table.source_limits(AID) == table.TimeLimits(42, 99)
    # Every front end reads them: the batch and pytest (ExecOptions), the sandboxed kernel.
    given = with_limits(ExecOptions(), get(AID))
    assert (given.cell_timeout, given.limits.wall_seconds) == (42, 99)
    assert kernel_limits(AID).wall_seconds == 99


def test_the_machines_cell_limit_holds_in_every_front_end(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    """KERASGRADE_CELL_TIMEOUT, which nbgrader_config.py reads through time_limits, is the cell
    limit of the batch and pytest too (ExecOptions); the notebook's limit stays."""
    own = time_limits(AID)
    monkeypatch.setenv(CELL_TIMEOUT_ENV, "7.5")
    assert time_limits(AID) == table.TimeLimits(7.5, own.notebook)
    given = with_limits(ExecOptions(), get(AID))
    assert (given.cell_timeout, given.limits.wall_seconds) == (7.5, own.notebook)
    assert kernel_limits(AID).wall_seconds == own.notebook
    monkeypatch.setenv(CELL_TIMEOUT_ENV, "soon")
    with pytest.raises(ValueError, match="KERASGRADE_CELL_TIMEOUT must be a number of seconds, "
                                         "not 'soon'"):
        time_limits(AID)


def test_the_reference_time_a_student_reads_is_the_one_the_limit_comes_from() -> None:
    measured = table.recorded_times()[AID]["measured"]
    for source, run in measured.items():
        assert table.reference_cell(AID, source) == {"seconds": run["cell"],
                                                     "data_source": source}
    slowest = max(measured, key=lambda s: measured[s]["cell"])
    assert table.reference_cell(AID, "unknown") == {"seconds": measured[slowest]["cell"],
                                                    "data_source": slowest}
    assert table.reference_cell("never-timed", "mnist") is None


@pytest.mark.slow  # a kernel, and 6 s of sleep
def test_course_build_times_the_solution_cells_and_the_run() -> None:
    """The slowest cell leaves nbgrader's test cells (the grader's checks) out."""
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import time\ntime.sleep(2)"),
        nbformat.v4.new_code_cell("time.sleep(4)", metadata={"nbgrader": {
            "grade": True, "solution": False, "grade_id": "t", "points": 1}}),
    ])
    _, cell, notebook = course.execute(nb)
    assert 2 <= cell < 4
    assert notebook >= 6


@pytest.mark.slow  # nbgrader's config loaded in a subprocess
def test_nbgrader_uses_the_assignments_cell_limit() -> None:
    """nbgrader_config.py: Execute.timeout for the assignment on nbgrader's command line, and
    a test cell bounded like the grader's own cells, by the notebook's limit."""
    script = (
        "import sys\n"
        "from traitlets.config.loader import PyFileConfigLoader\n"
        f"sys.argv = ['nbgrader', 'autograde', {AID!r}]\n"
        f"c = PyFileConfigLoader('nbgrader_config.py', path={str(REPO)!r}).load_config()\n"
        "test = {'metadata': {'nbgrader': {'grade': True, 'solution': False}}}\n"
        "print(c.Execute.timeout, c.Execute.timeout_func({'metadata': {}}),"
        " c.Execute.timeout_func(test))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, cwd=REPO).stdout.split()
    limits = time_limits(AID)
    assert [int(x) for x in out] == [int(limits.cell), int(limits.cell), int(limits.notebook)]
