"""The import paths that live outside the code keep working after the package moved: locked
notebook cells, courses' nbgrader_config.py and `nbgrader export`, autograder/conftest.py."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from kerasgrade.frontends import pytest_plugin
from kerasgrade.frontends.nbgrader import bridge, faults, feedback, lms, timeouts
from kerasgrade.report import inert
from kerasgrade.steps import framework


@pytest.mark.parametrize(("old", "name", "new"), [
    ("kerasgrade.student", "check_step", framework.check_step),
    ("kerasgrade.nbgrader_bridge", "run_check", bridge.run_check),
    ("kerasgrade.nbgrader_plugins", "CANVAS_FILE_NAME", lms.CANVAS_FILE_NAME),
    ("kerasgrade.nbgrader_plugins", "CanvasExportPlugin", lms.CanvasExportPlugin),
    ("kerasgrade.nbgrader_plugins", "GraderFaults", faults.GraderFaults),
    ("kerasgrade.nbgrader_plugins", "InertOutputs", inert.InertOutputs),
    ("kerasgrade.nbgrader_plugins", "KerasgradeReport", feedback.KerasgradeReport),
    ("kerasgrade.nbgrader_plugins", "TimedOutCells", timeouts.TimedOutCells),
    ("kerasgrade.pytest_plugin", "pytest_generate_tests", pytest_plugin.pytest_generate_tests),
    ("kerasgrade.data", "load_mnist", importlib.import_module("kerasgrade.data.load").load_mnist),
])
def test_old_path_gives_the_same_object(old: str, name: str, new: object) -> None:
    assert getattr(importlib.import_module(old), name) is new


@pytest.mark.slow  # two interpreters: over 1 s
def test_the_command_and_the_course_builder_run_as_modules() -> None:
    command = subprocess.run([sys.executable, "-m", "kerasgrade", "--help"],
                             capture_output=True, text=True, timeout=120)
    assert command.returncode == 0, command.stderr
    assert "usage: kerasgrade" in command.stdout
    builder = subprocess.run([sys.executable, "-m", "kerasgrade.course"],
                             capture_output=True, text=True, timeout=120)
    assert builder.returncode == 2  # no subcommand: its usage
    assert "python -m kerasgrade.course build [ROOT]" in builder.stderr
