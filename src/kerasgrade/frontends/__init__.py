"""The ways in: the command line, pytest autograder/, batches, nbgrader and Gradescope."""
