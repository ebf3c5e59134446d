"""The endless-loop notebook of issue #31 and what every front end must tell its student: the
cell stopped at the time limit, the limit, the reference's own time, the usual causes, and
none of the advice the stopped cell makes wrong. Shared by the front ends' tests
(tests/frontends/test_time_limit_named.py, tests/frontends/serve/test_serve.py)."""

from __future__ import annotations

import os
from pathlib import Path

from kerasgrade import data
from kerasgrade.course import assignments, time_limits
from kerasgrade.course.assignments import CONNECTED_NETWORKS as AID
from kerasgrade.course.demo import answered

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 10  # seconds: every student cell of the notebook but the loop takes one or two
NBGRADER_LIMIT = 30  # the first cell's `import keras` is under it too
FIT = "history = model.fit("
LOOPING = answered(ROOT, AID, {FIT: "while True:\n    pass\n" + FIT})
CELL = next(n for n, c in enumerate(LOOPING.cells, 1) if "while True" in c.source)
# The checks the stopped cell makes fail: the model exists but never trained.
FAILED = {"epochs", "test_accuracy"}
UNRELATED = ("pass it on", "training failed", "never trained")


def env(limit: int) -> dict[str, str]:
    return dict(os.environ, KERASGRADE_CELL_TIMEOUT=str(limit))


def named(text: str, limit: int) -> None:
    """The cell, the limit, the reference's time on the data served, the causes; and none of
    the advice the stopped cell makes wrong."""
    source = data.local_source(assignments.get(AID).dataset)
    reference = time_limits.recorded_times()[AID]["measured"][source]["cell"]
    text = " ".join(text.split())
    for fragment in (f"ell {CELL} (`while True:`) ran longer than {limit} s and was stopped",
                     f"{limit} s is the time limit per cell",
                     f"the reference solution's slowest cell takes {reference:g} s on {source}",
                     "a loop that never ends", "far more epochs than asked", "a huge layer"):
        assert fragment in text, (fragment, text[-3000:])
    for advice in UNRELATED:
        assert advice not in text, advice
