"""JupyterHub for a kerasgrade course, with grade-on-submit (docs/jupyterhub.md).

Students log in with their Unix accounts (PAM), each gets JupyterLab with nbgrader's
Assignments tab, run as that user from the single-user image (a venv every account can read,
with kerasgrade, TensorFlow, JupyterLab, nbgrader and jupyterhub). The instructor's server
opens in the course folder, with nbgrader's formgrader. `kerasgrade serve`, a managed service
run as the instructor, grades each submission as it reaches the exchange and releases its
feedback.

Start it as root (PAM and the spawner's setuid need it): `jupyterhub -f jupyterhub_config.py`.
Every path comes from an environment variable, with the default in brackets:

  KERASGRADE_HUB_VENV      the single-user image's venv        [/opt/kerasgrade/venv]
  KERASGRADE_COURSE        the course folder, the instructor's [/srv/kerasgrade/course]
  KERASGRADE_EXCHANGE      nbgrader's exchange root            [/srv/nbgrader/exchange]
  KERASGRADE_COURSE_ID     nbgrader's course id                [kerasgrade]
  KERASGRADE_INSTRUCTOR    the instructor's account            [instructor]
  KERASGRADE_STUDENTS      the students' accounts, comma-separated
  KERASGRADE_HUB_STATE     the hub's database, cookie secret, the servers' config
                                                               [/srv/jupyterhub]
  KERASGRADE_HUB_URL       where the hub listens               [http://127.0.0.1:8000]
  KERASGRADE_SERVE_WORKERS warm grading workers of the service [2]

Students may come from the LMS instead, with LTI 1.3 (docs/lti.md): set KERASGRADE_LTI_ISSUER
and the hub takes launches from that LMS in place of PAM logins:

  KERASGRADE_LTI_ISSUER         the LMS's issuer (Canvas: https://canvas.instructure.com)
  KERASGRADE_LTI_CLIENT_ID      the tool's client id in the LMS (comma-separated for several)
  KERASGRADE_LTI_DEPLOYMENT_ID  the deployment ids whose launches get in (comma-separated)
  KERASGRADE_LTI_CONTEXT_ID     the LMS course's context id (optional, comma-separated)
  KERASGRADE_LTI_AUTH_URL       the LMS's OIDC authorization endpoint
  KERASGRADE_LTI_KEYSET_URL     the LMS's public key set (JWKS)
  KERASGRADE_LTI_USER_ID        which LMS field names users: email_local, email, sub or
                                sourcedid; c.KerasgradeLti.user_id's value [email_local]
"""

import json
import os
from pathlib import Path

c = get_config()  # noqa: F821  (JupyterHub provides get_config when it loads this file)

VENV = Path(os.environ.get("KERASGRADE_HUB_VENV", "/opt/kerasgrade/venv"))
COURSE = Path(os.environ.get("KERASGRADE_COURSE", "/srv/kerasgrade/course"))
EXCHANGE = Path(os.environ.get("KERASGRADE_EXCHANGE", "/srv/nbgrader/exchange"))
COURSE_ID = os.environ.get("KERASGRADE_COURSE_ID", "kerasgrade")
INSTRUCTOR = os.environ.get("KERASGRADE_INSTRUCTOR", "instructor")
STUDENTS = {s for s in os.environ.get("KERASGRADE_STUDENTS", "").split(",") if s}
STATE = Path(os.environ.get("KERASGRADE_HUB_STATE", "/srv/jupyterhub"))
WORKERS = os.environ.get("KERASGRADE_SERVE_WORKERS", "2")

# --- the hub: loopback only (put TLS in front of it), its state in one folder ---------------
c.JupyterHub.bind_url = os.environ.get("KERASGRADE_HUB_URL", "http://127.0.0.1:8000")
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.pid_file = str(STATE / "jupyterhub-proxy.pid")
# configurable-http-proxy (npm) from PATH; name it here if it is installed elsewhere.
c.ConfigurableHTTPProxy.command = [os.environ.get("KERASGRADE_CHP", "configurable-http-proxy")]

# --- who may log in: Unix accounts through PAM (JupyterHub's default authenticator) ---------
c.Authenticator.allowed_users = STUDENTS | {INSTRUCTOR}
c.Authenticator.admin_users = {INSTRUCTOR}


def _listed(name: str) -> set[str]:
    return {v.strip() for v in os.environ.get(name, "").split(",") if v.strip()}


# --- or launches from the LMS, LTI 1.3 (docs/lti.md) -----------------------------------------
# The LMS vouches for who launches: every launch of the registered deployments and course gets
# in, named by the course's one rule, if that user has a Unix account here (the spawner runs
# each server as one). Each launch's gradebook and roster endpoints, and who launched, go to
# COURSE/.kerasgrade/lti/context.json for the service.
if os.environ.get("KERASGRADE_LTI_ISSUER"):
    from kerasgrade.lti.launch import KerasgradeLTI13Authenticator

    c.JupyterHub.authenticator_class = KerasgradeLTI13Authenticator
    lti = c.KerasgradeLTI13Authenticator
    lti.issuer = os.environ["KERASGRADE_LTI_ISSUER"]
    lti.client_id = _listed("KERASGRADE_LTI_CLIENT_ID")
    lti.deployment_ids = _listed("KERASGRADE_LTI_DEPLOYMENT_ID")
    lti.context_ids = _listed("KERASGRADE_LTI_CONTEXT_ID")
    lti.authorize_url = os.environ["KERASGRADE_LTI_AUTH_URL"]
    lti.jwks_endpoint = os.environ["KERASGRADE_LTI_KEYSET_URL"]
    lti.user_id = os.environ.get("KERASGRADE_LTI_USER_ID", "email_local")
    lti.course_root = str(COURSE)
    lti.require_unix_account = True
    lti.allow_all = True

# --- the single-user servers: the image's JupyterLab, run as each user ----------------------
c.Spawner.cmd = [str(VENV / "bin" / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.http_timeout = 120  # a first JupyterLab start on a busy machine
c.Spawner.start_timeout = 120

# nbgrader and Jupyter find their settings in JUPYTER_CONFIG_PATH: one folder for the students
# (the course and the exchange; no formgrader), one for the instructor (also the course
# folder; the formgrader). Written here, from the values above, so that they cannot drift.
CONFIG = {"student": STATE / "jupyter-student", "instructor": STATE / "jupyter-instructor"}
NBGRADER = (f"c = get_config()  # noqa: F821\nc.CourseDirectory.course_id = {COURSE_ID!r}\n"
            f"c.Exchange.root = {str(EXCHANGE)!r}\n")
INSTRUCTOR_ONLY = ["@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                   "@jupyter/nbgrader:course-list"]
for role, folder in CONFIG.items():
    (folder / "labconfig").mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    extra = f"c.CourseDirectory.root = {str(COURSE)!r}\n" if role == "instructor" else ""
    (folder / "nbgrader_config.py").write_text(NBGRADER + extra)
    hidden = {} if role == "instructor" else {name: True for name in INSTRUCTOR_ONLY}
    (folder / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": hidden}))
    server = {  # offline: no news feed, no update check
        "LabApp": {"news_url": None,
                   "check_for_updates_class": "jupyterlab.NeverCheckForUpdate"}}
    if role == "student":  # nor the formgrader's handlers
        server["ServerApp"] = {"jpserver_extensions": {
            "nbgrader.server_extensions.formgrader": False}}
    else:
        # JupyterLab shows the formgrader in an iframe of the server's own pages, which
        # jupyterhub-singleuser forbids by default (frame-ancestors 'none'). 'self' lets the
        # instructor's server frame its own pages; on a hub without subdomains every user's
        # server shares that origin, see docs/jupyterhub.md.
        server["ServerApp"] = {
            "tornado_settings": {"headers": {
                "Content-Security-Policy": "frame-ancestors 'self'"}},
            # The formgrader's pages escape the ids students name (docs/security.md).
            "jpserver_extensions": {"kerasgrade.frontends.nbgrader.formgrader": True}}
    (folder / "jupyter_server_config.json").write_text(json.dumps(server))
    for f in folder.rglob("*"):
        f.chmod(0o755 if f.is_dir() else 0o644)


def _role(spawner) -> str:
    return "instructor" if spawner.user.name == INSTRUCTOR else "student"


c.Spawner.environment = {
    "JUPYTER_CONFIG_PATH": lambda spawner: str(CONFIG[_role(spawner)]),
    "PATH": f"{VENV / 'bin'}:/usr/bin:/bin",
    "KERASGRADE_OFFLINE": "1",  # kernels never try to download data
    "TF_CPP_MIN_LOG_LEVEL": "3",
}


def _course_folder(spawner) -> None:
    """The instructor's server opens in the course folder, where the formgrader looks."""
    if _role(spawner) == "instructor":
        spawner.notebook_dir = str(COURSE)


c.Spawner.pre_spawn_hook = _course_folder

# --- grade-on-submit: `kerasgrade serve` from the image, as the instructor ------------------
c.JupyterHub.services = [{
    "name": "kerasgrade",
    "command": [str(VENV / "bin" / "kerasgrade"), "serve", "--root", str(COURSE),
                "--workers", WORKERS],
    "user": INSTRUCTOR,
    "cwd": str(COURSE),
    "environment": {
        "JUPYTER_CONFIG_PATH": str(CONFIG["instructor"]),
        "PATH": f"{VENV / 'bin'}:/usr/bin:/bin",
        "KERASGRADE_OFFLINE": "1",
        "TF_CPP_MIN_LOG_LEVEL": "3",
    },
}]
