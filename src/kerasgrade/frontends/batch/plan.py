"""A job (one submission, self-contained), and the grader's version.

A stored grade is reused (report/store.py) only while the notebook, the release, Keras,
TensorFlow and the grading code (grading_files) are unchanged.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import importlib.metadata
from dataclasses import dataclass, field
from pathlib import Path

import kerasgrade
from kerasgrade.course import assignments
from kerasgrade.course.assignments import Assignment
from kerasgrade.jobs.options import ExecOptions

# Where grading starts: the grader's process and the three it runs in the sandbox. Whatever
# these import from kerasgrade decides a grade; front ends, pages and step checks do not.
GRADING_ROOTS = ("kerasgrade.grade", "kerasgrade.measure.process",
                 "kerasgrade.execute.kernel.notebook_run", "kerasgrade.execute.kernel.export_cell",
                 "kerasgrade.execute.kernel.setup_cell")


@dataclass(frozen=True)
class Task:
    """One submission, self-contained so that a worker on another machine can grade it: the
    assignment goes as its spec (it pickles, a few KB), looked up once in the grader's process."""

    student: str
    spec: Assignment
    source: str  # the submitted path relative to the course root, as the result records it
    filename: str
    notebook: bytes
    release: bytes | None  # the released notebook: locked cells are restored from it
    options: ExecOptions
    host_share: dict[str, int] = field(default_factory=dict)  # Dask: host -> tasks at once

    @property
    def assignment(self) -> str:
        return self.spec.id


def grading_files() -> list[Path]:
    """What grading runs: GRADING_ROOTS, the checks modules and every kerasgrade module they
    import (found by reading their imports), the spec, and the time limits."""
    package = Path(kerasgrade.__file__).resolve().parent

    def source(name: str) -> Path | None:
        base = package.joinpath(*name.split(".")[1:])
        return next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.is_file()),
                    None)

    # The checks modules are named by the spec and imported by name.
    todo = [*GRADING_ROOTS, *(f"kerasgrade.checks.{a.module}"
                              for a in assignments.ASSIGNMENTS.values())]
    files: set[Path] = set()
    while todo:
        name = todo.pop()
        path = source(name)
        if path is None or path in files:
            continue  # a name imported from a module, not a module
        files.add(path)
        # A module's parent packages run their __init__ when it is imported.
        todo += [name.rsplit(".", i)[0] for i in range(1, name.count("."))]
        for node in ast.walk(ast.parse(path.read_bytes())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kerasgrade"):
                todo += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                todo += [a.name for a in node.names if a.name.startswith("kerasgrade")]
    return sorted(files | {package / "course" / "time_limits.json",
                           package / "course" / "assignments.toml"})


def grader_version(release: bytes | None) -> str:
    """What decides a grade besides the notebook: kerasgrade's grading code (grading_files),
    Keras and TensorFlow, and the released notebook whose locked cells are restored."""
    digest = hashlib.sha256()
    package = Path(kerasgrade.__file__).resolve().parent
    for path in grading_files():
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    for dist in ("keras", "tensorflow", "tensorflow-cpu"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            digest.update(f"{dist}={importlib.metadata.version(dist)}".encode())
    digest.update(release or b"")
    return f"{kerasgrade.__version__}+{digest.hexdigest()[:16]}"
