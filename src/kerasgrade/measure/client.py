"""Stage 3 from the grader's side: get a submission's artifacts measured by the clean measuring
process (kerasgrade.measure.process), run as a job of the submission's runner (a cold sandbox
or a fork of the worker's zygote, kerasgrade.jobs.runner) after the student's job and every
process it started have ended.

The job sees only a copy of the artifacts. It executes no student code: saved models are
vetted as data and loaded in safe mode (kerasgrade.measure.modelfile).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from kerasgrade.artifacts import ARTIFACTS, FACTS_FILE, Facts, read_json
from kerasgrade.course.assignments import Assignment
from kerasgrade.jobs.runner import Runner
from kerasgrade.measure.process import NO_DATA
from kerasgrade.results import GraderFault
from kerasgrade.sandbox import SandboxRun


@dataclass
class Measurement:
    facts: Facts = field(default_factory=Facts)
    refused: str = ""  # why the artifacts were not read: the student's files, not our fault
    run: SandboxRun | None = None  # the measuring process, if one ran


def measurement(artifacts: Path | None, spec: Assignment, runner: Runner) -> Measurement:
    """The facts about what the student's kernel exported to artifacts (None: nothing).

    Raises GraderFault when the measuring process itself fails: it ran no student code and
    read the artifacts as data, so its failure is the grader's.
    """
    if artifacts is None:
        return Measurement()
    with runner.job("measure") as job:
        copy = job.folder / ARTIFACTS
        try:
            # Links stay links: resolved inside the sandbox, never by the grader.
            shutil.copytree(artifacts, copy, symlinks=True)
        except (shutil.Error, OSError) as exc:
            # The student's code made these files (a FIFO, an unreadable file): theirs.
            return Measurement(refused=f"its files could not be copied ({exc})")
        # The student's code could have left a facts.json there: only the grader's own counts.
        (copy / FACTS_FILE).unlink(missing_ok=True)
        # Across the process boundary the assignment goes by its id (process.main looks it up).
        run = runner.run("measure", [str(copy), spec.id], job)
        # What the process wrote as Facts (read_json knows only that it is a JSON object).
        facts = cast(Facts, read_json(copy / FACTS_FILE))
    if run.status != "ok" or not facts:
        if run.returncode == NO_DATA:
            raise GraderFault(f"the grader's data is not available in the sandbox: "
                              f"{run.last_stderr_line()}", "data")
        raise GraderFault(f"the measuring process failed ({run.reason}): "
                          f"{run.last_stderr_line()}", "measure")
    return Measurement(facts, "", run)
