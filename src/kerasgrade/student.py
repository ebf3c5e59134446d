"""Stable import path for the notebooks' step cells; the code lives in the module imported here."""

from kerasgrade.steps.framework import check_step  # noqa: F401
