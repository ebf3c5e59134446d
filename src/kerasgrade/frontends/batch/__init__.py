"""`kerasgrade grade`: a course's submissions, N at a time, resumable: plan, worker, run."""
