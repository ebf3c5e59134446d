"""The environment variables kerasgrade reads, each named once.

Below every other module (data and the sandbox read them), so that no module spells a name of
its own; docs/config.md lists them with kerasgrade.settings' traits.
"""

from __future__ import annotations

DATA_DIR = "KERASGRADE_DATA_DIR"
OFFLINE = "KERASGRADE_OFFLINE"
NO_SAMPLE = "KERASGRADE_NO_SAMPLE"
SHARED_DATA = "KERASGRADE_SHARED_DATA"
SHARED_DATA_ROOT = "KERASGRADE_SHARED_DATA_ROOT"
CELL_TIMEOUT = "KERASGRADE_CELL_TIMEOUT"
NBGRADER_SANDBOX = "KERASGRADE_NBGRADER_SANDBOX"
COURSE_ROOT = "KERASGRADE_COURSE_ROOT"
KERNEL_STARTUP_TIMEOUT = "KERASGRADE_KERNEL_STARTUP_TIMEOUT"

DESCRIBED = (
    (DATA_DIR, "the data folder of `kerasgrade data fetch` (full MNIST, Fashion-MNIST)"),
    (OFFLINE, "`1`: never download a data set (set inside the sandbox)"),
    (NO_SAMPLE, "`1`: never fall back on the 5,000-digit MNIST sample (Gradescope, CI)"),
    (SHARED_DATA, "folders of data sets mapped once and shared by every kernel (set by the "
                  "grader)"),
    (SHARED_DATA_ROOT, "where those shared folders are made (default: a per-user temp folder)"),
    (CELL_TIMEOUT, "seconds one cell may run, for every assignment and front end"),
    (NBGRADER_SANDBOX, "`1`: `nbgrader autograde` runs notebooks in kerasgrade's sandboxed "
                       "kernel (read by nbgrader_config.py)"),
    (COURSE_ROOT, "the course folder the sandboxed nbgrader kernel hides (set by "
                  "nbgrader_config.py)"),
    (KERNEL_STARTUP_TIMEOUT, "seconds nbgrader waits for a kernel to start (nbgrader_config.py)"),
)
