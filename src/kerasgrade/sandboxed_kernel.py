"""Stable import path: installed kernelspecs run `python -m kerasgrade.sandboxed_kernel`."""

from kerasgrade.frontends.nbgrader.kernel import configure, main  # noqa: F401

if __name__ == "__main__":
    raise SystemExit(main())
