"""Stable import path for older autograder/conftest.py files (the code: imported below)."""

from kerasgrade.frontends.pytest_plugin import (  # noqa: F401
    graded,
    pytest_addoption,
    pytest_collection_finish,
    pytest_configure,
    pytest_generate_tests,
    pytest_sessionfinish,
)
