"""kerasgrade: an autograded Keras course (nbgrader notebooks, hidden pytest checks, batch grading)."""

__version__ = "0.1.0"
