"""Stable import path for courses' nbgrader_config.py (the code: imported below)."""

from kerasgrade.frontends.nbgrader.feedback import KerasgradeReport  # noqa: F401
