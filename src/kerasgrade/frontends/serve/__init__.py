"""`kerasgrade serve`: grade each submission as it reaches nbgrader's exchange (docs/serve.md).

config.py the course's settings and the service's traits, queue.py the durable queue,
exchange.py nbgrader's exchange and API for one student, events.py the event log,
service.py the loop.
"""
