"""Stable import path for the hidden test cells; the code lives in the module imported here."""

from kerasgrade.frontends.nbgrader.bridge import run_check  # noqa: F401
