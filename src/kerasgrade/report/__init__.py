"""Stage 5: everything made from the result schema (kerasgrade.results): pages, gradebook, CSV."""
