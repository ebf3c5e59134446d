"""Every setting of kerasgrade's front ends, in one traitlets class, in nbclient's style.

`c.Kerasgrade.<trait>` in the course's nbgrader_config.py sets a default for the course; a
command-line flag (`kerasgrade grade --workers 2`) is an alias of its trait and wins. The
course's configuration is read once, the way nbgrader's apps read it (`load`), and every front
end receives the object it makes, never the command line's parse. docs/config.md lists the
traits (`kerasgrade settings` prints them; a test keeps the page true).

The environment variables kerasgrade reads are named in kerasgrade.environment, where the low
modules that read them (data, sandbox) can import them.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from traitlets import Bool, Float, Int, Unicode
from traitlets.config import Config, Configurable

from kerasgrade import environment

# The name the grade-on-submit service's traits had before they served every front end.
OLD_SECTION = "KerasgradeServe"


class Kerasgrade(Configurable):
    """How kerasgrade grades a course: where, on how many workers, under which limits, and
    whom the grade-on-submit service accepts."""

    # Where and with what
    db = Unicode("", help="The gradebook's SQLAlchemy URL (empty: the course's "
                 "CourseDirectory.db_url, else sqlite gradebook.db in the course folder)"
                 ).tag(config=True, flag="--db")
    sandbox = Bool(True, help="Run each notebook in the bubblewrap sandbox (a hidden course "
                   "folder, a private /tmp, no network, resource limits). Off only where "
                   "every notebook is trusted").tag(config=True, flag="--no-sandbox")
    data_dir = Unicode("", help=f"The data folder of `kerasgrade data fetch` (empty: "
                       f"${environment.DATA_DIR}, else the cache and the 5,000-digit sample)"
                       ).tag(config=True)

    # Workers
    workers = Int(0, help="Local worker processes, one kernel each (0: one per core, as "
                  "memory allows)").tag(config=True, flag="--workers")
    scheduler = Unicode("", help="A Dask scheduler's address; its workers grade instead of "
                        "local processes (empty: local processes)"
                        ).tag(config=True, flag="--scheduler")

    # Limits of one run
    cell_timeout = Float(0.0, help=f"Seconds one cell may run (0: the assignment's own limit; "
                         f"${environment.CELL_TIMEOUT} overrides it for every assignment)"
                         ).tag(config=True)
    notebook_timeout = Float(0.0, help="Seconds a whole notebook may run (0: the "
                             "assignment's own limit)").tag(config=True)
    memory_mb = Int(4096, help="Memory of one notebook's whole process tree, in MiB"
                    ).tag(config=True)

    # The batch
    force = Bool(False, help="`kerasgrade grade`: regrade submissions whose notebook and "
                 "grader are unchanged").tag(config=True, flag="--force")

    # The grade-on-submit service
    poll_seconds = Float(1.0, help="`kerasgrade serve`: how often the exchange's inbound "
                         "folder is read").tag(config=True, flag="--poll")
    max_attempts = Int(0, help="Graded attempts per student and assignment; a submission "
                       "past the limit is collected, not graded (0: no limit)").tag(config=True)
    cooloff_seconds = Float(0.0, help="Seconds between a student's graded attempts at an "
                            "assignment; a submission waits until they pass").tag(config=True)
    fault_retry_seconds = Float(60.0, help="After a grader fault, wait this long before "
                                "grading the submission again").tag(config=True)
    trust_inbound_names = Bool(False, help="Take a submission's student from its inbound "
                               "folder's name instead of the folder's Unix owner. Only for "
                               "a hub whose servers all run as one Unix user (Kubernetes with a "
                               "shared volume), where ownership cannot tell students apart: "
                               "then any student can submit as any other (docs/security.md)"
                               ).tag(config=True)
    open_course = Bool(False, help="Grade students who are not on the gradebook's roster "
                       "(nbgrader db student add/import); otherwise their submissions are "
                       "quarantined").tag(config=True)
    max_files = Int(1000, help="Files an inbound entry may hold; more and it is quarantined"
                    ).tag(config=True)
    max_depth = Int(10, help="Folder levels an inbound entry may nest").tag(config=True)


def flags() -> dict[str, tuple[str, Any]]:
    """Each command-line flag and the trait it is an alias of."""
    traits = Kerasgrade.class_traits(config=True)
    return {t.metadata["flag"]: (name, t) for name, t in traits.items() if "flag" in t.metadata}


def add_flags(parser: Any, *names: str) -> None:
    """The named traits' flags on an argparse parser, help and default from the trait."""
    by_trait = {name: (flag, trait) for flag, (name, trait) in flags().items()}
    for name in names:
        flag, trait = by_trait[name]
        if isinstance(trait, Bool):  # a switch: it sets the value the default is not
            value = not trait.default_value
            parser.add_argument(flag, dest=name, action="store_const", const=value,
                                default=None, help=f"c.Kerasgrade.{name} = {value}: {trait.help}")
        else:
            kind = {Int: int, Float: float}.get(type(trait), str)
            parser.add_argument(flag, dest=name, type=kind, default=None,
                                help=f"{trait.help} (c.Kerasgrade.{name})")


def from_command_line(values: dict[str, Any]) -> Config:
    """The flags that were given, as configuration of their traits."""
    traits = Kerasgrade.class_traits(config=True)
    return Config({"Kerasgrade": {k: v for k, v in values.items()
                                  if k in traits and v is not None}})


def load(root: Path, given: Config | None = None) -> tuple[Kerasgrade, Any]:
    """The settings and nbgrader's app for a course: its nbgrader_config.py read once, as
    nbgrader's apps read it, with the command line's values over it."""
    from nbgrader.apps.baseapp import NbGrader

    app = NbGrader()
    # nbgrader reads nbgrader_config.py from the current folder: the course's, from anywhere.
    with contextlib.chdir(root):
        app.initialize([], root=str(root))
    if OLD_SECTION in app.config:  # a course configured before the traits were shared
        app.config.merge(Config({"Kerasgrade": dict(app.config[OLD_SECTION])}))
    if given is not None:
        app.update_config(given)
    return Kerasgrade(parent=app), app


def reference(*sections: list[str]) -> str:
    """docs/config.md: every setting, its default and its help; then ``sections``, the other
    settings classes' (the LTI one, `kerasgrade.lti.settings.reference`), passed by the caller
    so that this module, which every other reads, imports none of them."""
    lines = ["# Settings", "",
             "Every setting is a trait of `c.Kerasgrade` in the course's `nbgrader_config.py`;",
             "a flag, where there is one, overrides it for one run. Generated from",
             "`src/kerasgrade/settings.py` (`kerasgrade settings` prints it).", "",
             "| setting | flag | default | what it does |", "| --- | --- | --- | --- |"]
    for name, trait in Kerasgrade.class_traits(config=True).items():
        flag = f"`{trait.metadata['flag']}`" if "flag" in trait.metadata else ""
        lines.append(f"| `c.Kerasgrade.{name}` | {flag} | `{trait.default_value!r}` | "
                     f"{trait.help} |")
    for section in sections:
        lines += ["", *section]
    lines += ["", "## Environment", "",
              "| variable | what it does |", "| --- | --- |"]
    lines += [f"| `{name}` | {what} |" for name, what in environment.DESCRIBED]
    return "\n".join(lines) + "\n"
