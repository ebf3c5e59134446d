"""nbgrader integration: hidden test cells, feedback, the sandboxed kernel, LMS plugins."""
