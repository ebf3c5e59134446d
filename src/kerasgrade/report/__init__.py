"""Stage 5: the result schema and everything made from it (pages, gradebook, CSV)."""
