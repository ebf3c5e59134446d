"""The hidden checks' pytest front end (options: see `pytest autograder/ --help`)."""

# pytest finds the plugin's hooks and fixture by name in this module.
from kerasgrade.pytest_plugin import *  # noqa: F403
