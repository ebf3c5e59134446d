"""A cell stopped at the time limit, as the student reads it: the fact, and its one wording.

The runner (kerasgrade.execute.kernel.notebook_run) and nbgrader's step after Execute
(frontends/nbgrader/timeouts.py) record each student cell that ran past its limit as a
TimedOutCell in the execution facts; the grader adds the reference solution's own time
(course.time_limits.reference_cell). `overrun` reads them back, and its clause and change are
the only words for it: the checks whose finding the stopped cell explains (nothing trained, a
variable never set) say them in place of their own advice, and the feedback page shows them.
Pure: no Keras, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kerasgrade.artifacts import Facts, ReferenceTime, TimedOutCell

FIRST_LINE = 60  # characters of a cell's first line that name it


def first_line(source: str) -> str:
    return next((line.strip() for line in source.splitlines() if line.strip()), "")[:FIRST_LINE]


def cell_name(number: int, first: str) -> str:
    """A cell as the student finds it: its place and its first line."""
    return f"cell {number} (`{first}`)"


def timed_out_cell(number: int, source: str, limit: float) -> TimedOutCell:
    return {"cell": number, "first_line": first_line(source), "limit_seconds": float(limit)}


def stopped(name: str, limit: float) -> str:
    """What the runner's reason and every message say of a cell over its limit."""
    return f"{name} ran longer than {limit:g} s and was stopped"


def well_formed(cell: Any) -> bool:
    """A TimedOutCell as the runner writes it (its report is read as untrusted data)."""
    return (isinstance(cell, dict) and type(cell.get("cell")) is int
            and isinstance(cell.get("first_line"), str)
            and type(cell.get("limit_seconds")) in (int, float))


@dataclass(frozen=True)
class Overrun:
    """The student's cells stopped at the time limit, and the reference's time to compare."""

    cells: tuple[TimedOutCell, ...]
    reference: ReferenceTime | None

    @property
    def limit(self) -> float:
        return max(c["limit_seconds"] for c in self.cells)

    def clause(self) -> str:
        """Which cell ran past the limit, the limit, and the reference solution's time."""
        reference = (f"takes {self.reference['seconds']:g} s on {self.reference['data_source']}"
                     if self.reference else "was never timed")
        cells = " and ".join(stopped(cell_name(c["cell"], c["first_line"]), c["limit_seconds"])
                             for c in self.cells)
        return (f"{cells}: {self.limit:g} s is the time limit per cell, and the reference "
                f"solution's slowest cell {reference}")

    def sentence(self) -> str:
        clause = self.clause()
        return f"{clause[0].upper()}{clause[1:]}."

    def change(self) -> str:
        """What usually makes a cell that slow, and what to do: no advice about anything else."""
        which = " and ".join(f"cell {c['cell']}" for c in self.cells)
        return (f"a cell runs that long when it holds a loop that never ends, trains for far "
                f"more epochs than asked, or builds a huge layer: find which it is in {which}, "
                f"make it finish well within {self.limit:g} s, and run the notebook again from "
                "the top")


def overrun(facts: Facts) -> Overrun | None:
    """The cells the run stopped at the time limit, or None when every cell finished."""
    execution = facts.get("execution") or {}
    cells = tuple(execution.get("timed_out") or ())
    return Overrun(cells, execution.get("reference")) if cells else None
