"""Stage 3: measure what a submission left, in a clean process that never runs student code."""
