"""The resource limits of a sandboxed run, and the prlimit command that sets them.

Set with ``prlimit`` so no ``preexec_fn`` runs in a threaded grader: RLIMIT_AS = memory_mb per
process (a single runaway allocation fails with MemoryError in the child; TensorFlow imports and
trains under it), RLIMIT_NPROC = max_processes for the sandbox uid (threads count; distinct uids
per slot keep parallel workers from sharing it; root in --no-sandbox mode is exempt),
RLIMIT_FSIZE = max_file_mb, RLIMIT_CORE = 0. The watchdog (watchdog.py) enforces memory_mb for
the whole tree and wall_seconds.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 4096  # address-space + RSS watchdog for the whole process tree
    wall_seconds: float = 900  # whole run
    max_processes: int = 512  # RLIMIT_NPROC (threads count too; TensorFlow starts dozens)
    max_file_mb: int = 200  # RLIMIT_FSIZE: a 500 MB saved model must fail to write
    max_output_bytes: int = 2_000_000  # stdout/stderr kept from the process (rest dropped)


def tool_path(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} (util-linux / bubblewrap) is needed but not on PATH")
    return path


def prlimit_argv(limits: Limits) -> list[str]:
    # A single value sets soft and hard limits, so the program cannot raise them again.
    return [
        tool_path("prlimit"),
        f"--as={limits.memory_mb * MIB}",
        f"--nproc={limits.max_processes}",
        f"--fsize={limits.max_file_mb * MIB}",
        "--core=0",
        "--",
    ]
