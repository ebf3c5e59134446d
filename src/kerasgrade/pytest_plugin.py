"""Stable import path for older autograder/conftest.py files (the code: imported below)."""

