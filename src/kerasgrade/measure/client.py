"""How the grader gets a submission's artifacts measured (`kerasgrade.measure.process`).

One-off grading starts a fresh sandboxed measuring process per submission. A batch worker
forks it from its zygote (kerasgrade.jobs.warm), which already holds TensorFlow, into new
namespaces, after the student's job and every process it started have ended; it sees only a
copy of that submission's artifacts. It executes no student code: saved models are vetted as
data and loaded in safe mode (kerasgrade.measure.modelfile).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from kerasgrade import sandbox
from kerasgrade.artifacts import FACTS_FILE
from kerasgrade.jobs import warm
from kerasgrade.jobs.options import ExecOptions, with_limits

COMMAND = [sys.executable, "-m", "kerasgrade.measure.process"]


def measure(artifacts: Path, assignment_id: str, scratch: Path, env: dict[str, str],
            shown: Sequence[Path], options: ExecOptions) -> sandbox.SandboxRun:
    """Write artifacts/facts.json; `options` is the submission's ExecOptions (its time limit,
    the assignment's notebook limit unless given, bounds the measurement too)."""
    options = with_limits(options, assignment_id)
    if options.warm:
        return _forked(artifacts, assignment_id, options)
    return sandbox.run([*COMMAND, str(artifacts), assignment_id], scratch=scratch,
                       hide=options.hide, env=env, readonly_binds=shown,
                       limits=options.limits, slot=options.slot, enabled=options.sandbox)


def _forked(artifacts: Path, assignment_id: str, options: ExecOptions) -> sandbox.SandboxRun:
    """Measure a copy of the artifacts in a job forked from this worker's zygote."""
    zygote = warm.zygote_for(options)
    job = zygote.job_dir("measure")
    copy = job / artifacts.name
    try:
        try:
            # Links stay links: resolved inside the sandbox, never by the grader.
            shutil.copytree(artifacts, copy, symlinks=True)
        except (shutil.Error, OSError) as exc:
            # The student's code made these files (a FIFO, an unreadable file): theirs.
            return sandbox.SandboxRun(None, "refused", f"its files could not be copied ({exc})",
                                      0.0, 0.0, "", "")
        run = zygote.run("measure", [str(copy), assignment_id], job, zygote.job_env(job),
                         options.limits)
        facts = copy / FACTS_FILE
        if facts.is_file() and not facts.is_symlink():
            shutil.copyfile(facts, artifacts / FACTS_FILE)
        return run
    finally:
        shutil.rmtree(job, ignore_errors=True)
