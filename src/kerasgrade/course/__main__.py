"""`python -m kerasgrade.course build|check|time`: build the course notebooks."""

from kerasgrade.course.build import main

raise SystemExit(main())
