"""What a job in the sandbox may run: the grader's entry points, by name (kerasgrade.jobs.runner
runs one as `python -m`, or the warm zygote imports it and calls its main(argv))."""

from __future__ import annotations

ENTRY_POINTS = {
    "notebook": "kerasgrade.execute.kernel.notebook_run",
    "measure": "kerasgrade.measure.process",
}
