"""How many cores and GB a deadline needs: the sizing table of docs/scale.md, computed from
figures the benchmarks measured.

    python bench/sizing.py [--measured ID=SECONDS:GB ...] [--per-student R]
                           [--last-10-min SHARE] [--machine-cores N] [--students 100 500 2000]

The model, for each assignment and class size (students who all hand in during the last hour
before the deadline, R submissions each on average, resubmissions included):
- work: students x R x the seconds one grading holds one worker (one core, one TensorFlow
  thread: bench/submit_latency.py's burst, its `grading s` mean);
- cores: enough to do the hour's work at 70 % of their time (a queue that runs near 100 %
  grows without bound while submissions keep arriving);
- GB: a worker's peak for each core (its whole tree: the worker, its zygote, the kernel and
  the measuring process), plus 1 GB for the service;
- where: local workers (`kerasgrade serve --workers N`) while one machine of --machine-cores
  holds them, else a Dask cluster (`--scheduler`) of that many machines;
- last feedback: when SHARE of the hour's submissions come in its last 10 minutes, how long
  after the deadline the last of them is graded (0 when the cores keep up).

It prints the table as docs/scale.md shows it (tests/test_bench_sizing.py checks that the two
agree).
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

# Measured on this machine (2 cores), full data sets, 2026-12-07 (docs/scale.md): a
# grading's seconds on one thread, and a worker tree's peak GB.
MEASURED = {"02-connected-networks": (20.2, 1.5), "03-fashion-classifier": (80.5, 1.8)}
SERVICE_GB = 1.0
UTILIZATION = 0.7
HOUR = 3600.0
LAST_WINDOW = 600.0


@dataclass(frozen=True)
class Plan:
    assignment: str
    students: int
    cores: int
    gb: float
    machines: int
    last_feedback_min: float

    def row(self, machine_cores: int) -> str:
        where = (f"local, `--workers {self.cores}`" if self.machines == 1 else
                 f"Dask cluster, {self.machines} machines x {machine_cores} cores")
        return (f"| {self.assignment} | {self.students:,} | {self.cores} | {self.gb:.0f} | "
                f"{where} | {self.last_feedback_min:.0f} |")


def plan(assignment: str, students: int, grading_s: float, gb_per_worker: float,
         per_student: float, last_share: float, machine_cores: int) -> Plan:
    """The cores, memory and place for one class, and the last feedback's delay (minutes)."""
    submissions = students * per_student
    cores = max(1, math.ceil(submissions * grading_s / (HOUR * UTILIZATION)))
    # The last window's submissions, each a core's grading_s: what the cores cannot do in the
    # window is done after the deadline.
    late_work = submissions * last_share * grading_s / cores
    return Plan(assignment, students, cores, cores * gb_per_worker + SERVICE_GB,
                math.ceil(cores / machine_cores),
                max(0.0, late_work - LAST_WINDOW) / 60)


def table(measured: dict[str, tuple[float, float]], per_student: float, last_share: float,
          machine_cores: int, classes: list[int]) -> str:
    lines = ["| assignment | students | cores | GB | where | last feedback, min after the "
             "deadline |", "| --- | ---: | ---: | ---: | --- | ---: |"]
    for assignment, (seconds, gb) in measured.items():
        for students in classes:
            lines.append(plan(assignment, students, seconds, gb, per_student, last_share,
                              machine_cores).row(machine_cores))
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--measured", nargs="*",
                   default=[f"{a}={s:g}:{gb:g}" for a, (s, gb) in MEASURED.items()],
                   help="ASSIGNMENT=SECONDS:GB: one grading on one worker, a worker's peak")
    p.add_argument("--per-student", type=float, default=1.5)
    p.add_argument("--last-10-min", type=float, default=0.3, dest="last_share")
    p.add_argument("--machine-cores", type=int, default=16)
    p.add_argument("--students", type=int, nargs="*", default=[100, 500, 2000])
    args = p.parse_args()
    measured = {a: (float(s), float(gb)) for a, _, figures in
                (m.partition("=") for m in args.measured) for s, _, gb in [figures.partition(":")]}
    print(table(measured, args.per_student, args.last_share, args.machine_cores,
                args.students))


if __name__ == "__main__":
    main()
