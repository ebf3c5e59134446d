"""Stable import path for the names a course's nbgrader_config.py and nbgrader's command line
use (`nbgrader export --exporter=kerasgrade.nbgrader_plugins.CanvasExportPlugin`); the code
lives in the modules imported here."""

from kerasgrade.frontends.nbgrader.faults import GraderFaults
from kerasgrade.frontends.nbgrader.feedback import KerasgradeReport
from kerasgrade.frontends.nbgrader.lms import CANVAS_FILE_NAME, CanvasExportPlugin
from kerasgrade.frontends.nbgrader.timeouts import TimedOutCells
from kerasgrade.report.inert import InertOutputs

__all__ = ["CANVAS_FILE_NAME", "CanvasExportPlugin", "GraderFaults", "InertOutputs",
           "KerasgradeReport", "TimedOutCells"]
