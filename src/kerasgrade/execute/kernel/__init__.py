"""Code that runs inside the student's kernel (trust zone 1): nothing it reports is trusted."""
