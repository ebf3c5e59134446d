"""Stable import path for courses' nbgrader_config.py (the code: imported below)."""

from kerasgrade.frontends.nbgrader.lms import CANVAS_FILE_NAME, CanvasExportPlugin  # noqa: F401
