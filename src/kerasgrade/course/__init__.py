"""The course: every assignment declared once, the course folders, building the notebooks."""
