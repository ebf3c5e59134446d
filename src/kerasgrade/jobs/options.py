"""Every limit of a run in one place: the execution options, with the assignment's time limits
(kerasgrade.course.time_limits) wherever none were given."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from kerasgrade.course.assignments import Assignment
from kerasgrade.course.time_limits import spec_time_limits
from kerasgrade.sandbox.limits import Limits


@dataclass
class ExecOptions:
    sandbox: bool = True
    seed: int = 0
    threads: int | None = None
    slot: int = 0
    # None: the assignment's own limits (time_limits), as in every front end
    cell_timeout: float | None = None
    limits: Limits | None = None
    memory_mb: int = Limits.memory_mb  # the limits' memory, where limits is None
    hide: tuple[Path, ...] = ()
    data_dir: Path | None = None
    # A value of KERASGRADE_SHARED_DATA for cold jobs (data.share()'s); None: the environment's
    shared_data: str | None = None
    # Batches per call into TensorFlow in the student's fit and evaluate
    # (setup_cell.batches_per_call): the same weights and results bit for bit, fit 1.7-2.7x
    # faster on the course's networks; 1: Keras's own.
    fit_steps: int = 64
    warm: bool = False  # batch workers: jobs forked from a zygote (kerasgrade.jobs.warm)


def with_limits(options: ExecOptions, spec: Assignment) -> ExecOptions:
    """The options with the assignment's time limits wherever none were given."""
    limits = spec_time_limits(spec, options.data_dir)
    return replace(options,
                   cell_timeout=options.cell_timeout or limits.cell,
                   limits=options.limits or Limits(memory_mb=options.memory_mb,
                                                   wall_seconds=limits.notebook))
