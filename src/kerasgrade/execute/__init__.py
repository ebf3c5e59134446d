"""Stage 2: run a submission in its own sandboxed kernel and collect what it left."""
