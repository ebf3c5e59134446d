"""`python -m kerasgrade`: the kerasgrade command."""

from kerasgrade.frontends.cli import main

raise SystemExit(main())
