"""The visible step checks a student runs in the notebook, one module per assignment."""
