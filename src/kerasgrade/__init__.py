"""kerasgrade: an autograded Keras course: nbgrader notebooks, hidden checks, batch grading."""

__version__ = "0.1.0"
