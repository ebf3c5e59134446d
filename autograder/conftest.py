"""The hidden checks' pytest front end (options: see `pytest autograder/ --help`)."""

from kerasgrade.frontends.pytest_plugin import (  # noqa: F401  pytest finds hooks by name here
    graded,
    pytest_addoption,
    pytest_collection_finish,
    pytest_configure,
    pytest_generate_tests,
    pytest_sessionfinish,
)
