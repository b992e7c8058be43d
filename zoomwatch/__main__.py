"""`python -m zoomwatch` runs the command line."""

from zoomwatch.cli import main

raise SystemExit(main())
