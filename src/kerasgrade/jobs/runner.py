"""Where a submission's jobs run, chosen once per submission from its options: each job in a
cold sandbox of its own, or forked from the worker's warm zygote (kerasgrade.jobs.warm).

Execute runs the student's kernel as one job and measure runs the clean measuring process as
another; neither asks which runner it was given.
"""

from __future__ import annotations

import shutil
import sys
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from kerasgrade import sandbox
from kerasgrade.entry_points import ENTRY_POINTS
from kerasgrade.jobs import warm
from kerasgrade.jobs.options import ExecOptions
from kerasgrade.sandbox.policy import sandbox_env, shown_paths


@dataclass(frozen=True)
class Job:
    folder: Path  # the only folder the job may write to
    env: dict[str, str]  # its whole environment
    shown: tuple[Path, ...]  # shown read-only in its sandbox


class Runner(ABC):
    forks = False  # its jobs are forks of a process that already imported TensorFlow

    def __init__(self, options: ExecOptions) -> None:
        assert options.limits is not None  # with_limits(): every job is bounded
        self.options = options

    @abstractmethod
    def job(self, name: str) -> AbstractContextManager[Job]:
        """A fresh folder and environment for one job, for the length of the block."""

    @abstractmethod
    def run(self, entry: str, argv: Sequence[str], job: Job) -> sandbox.SandboxRun:
        """Run a grader entry point (kerasgrade.entry_points.ENTRY_POINTS) as the job."""

    def start_seconds(self) -> float:
        """Seconds this submission's jobs waited for a worker to start (a warm worker's first
        submission): the worker's cost, not the submission's."""
        return 0.0


class Cold(Runner):
    """A new sandboxed interpreter per job, in workdir/<name>, left for workdir's owner."""

    def __init__(self, options: ExecOptions, workdir: Path) -> None:
        super().__init__(options)
        self.workdir = workdir

    @contextmanager
    def job(self, name: str) -> Iterator[Job]:
        folder = self.workdir / name
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        o = self.options
        env = sandbox_env(folder, o.threads, o.data_dir, shared_data=o.shared_data)
        yield Job(folder, env, tuple(shown_paths(env)))

    def run(self, entry: str, argv: Sequence[str], job: Job) -> sandbox.SandboxRun:
        o = self.options
        return sandbox.run([sys.executable, "-m", ENTRY_POINTS[entry], *argv],
                           scratch=job.folder, hide=o.hide, env=job.env,
                           readonly_binds=job.shown, limits=o.limits, slot=o.slot,
                           enabled=o.sandbox)


class Forked(Runner):
    """Jobs forked from this thread's zygote, which already imported TensorFlow."""

    forks = True

    def __init__(self, options: ExecOptions) -> None:
        super().__init__(options)
        self.zygote = warm.zygote_for(options)
        self.zygote_seconds = self.zygote.start_seconds

    @contextmanager
    def job(self, name: str) -> Iterator[Job]:
        folder = self.zygote.job_dir(name)
        try:
            yield Job(folder, self.zygote.job_env(folder, self.options.threads),
                      tuple(self.zygote.shown))
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def run(self, entry: str, argv: Sequence[str], job: Job) -> sandbox.SandboxRun:
        assert self.options.limits is not None
        return self.zygote.run(entry, argv, job.folder, job.env, self.options.limits)

    def start_seconds(self) -> float:
        return self.zygote.start_seconds - self.zygote_seconds


def runner_for(options: ExecOptions, workdir: Path) -> Runner:
    """options: with its limits (jobs.options.with_limits); workdir: for cold jobs' folders."""
    return Forked(options) if options.warm else Cold(options, workdir)
