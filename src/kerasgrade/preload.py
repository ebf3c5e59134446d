"""What the warm zygote (kerasgrade.jobs.warm.zygote) imports once, before it forks any job;
every job shares it copy-on-write.

Named here, beside the modules it names, and by dotted name: the zygote imports them when it
chooses (TensorFlow silenced first, a failure reported as its FAILED line), not when it is
itself imported.
"""

from __future__ import annotations

from kerasgrade.entry_points import ENTRY_POINTS

# The grader's in-sandbox modules and what the course's notebooks import (matplotlib for 01 and
# 03, the step checks and the hidden cells' bridge in every one).
PRELOAD = (
    "tensorflow", "keras", "numpy", "matplotlib.pyplot", "ipykernel.kernelapp",
    "ipykernel.ipkernel", ENTRY_POINTS["notebook"], "kerasgrade.execute.kernel.setup_cell",
    "kerasgrade.execute.kernel.export_cell", ENTRY_POINTS["measure"], "kerasgrade.data",
    "kerasgrade.student", "kerasgrade.nbgrader_bridge",
)
