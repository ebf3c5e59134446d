"""LTI 1.3: the launch from the LMS into the hub, the roster and grade passback (docs/lti.md)."""
