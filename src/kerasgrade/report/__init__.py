"""Stage 5: everything made from the result schema (kerasgrade.results): pages, gradebook, CSV.

Every writer here is handed the result's `Assignment` spec by its caller, who looked it up at
its process's door (a stored result keeps only the id): nothing here turns an id into a spec.
"""
