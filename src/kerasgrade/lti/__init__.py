"""LTI 1.3: grades and the roster between the course and its LMS (docs/lti.md).

settings: the tool's registration with the LMS (c.KerasgradeLti) and the rule that maps an
LMS user to a student id. token: access tokens (client credentials, a signed client
assertion). nrps: the course's members. ags: line items and scores. outbox: every score
written down before it is sent, sent until the LMS holds it or refuses it for good.
launch: the hub's side, the LMS's launches (OIDC login, then the launch) as JupyterHub logins;
launches: what each launch leaves for the service (.kerasgrade/lti/context.json).
"""
