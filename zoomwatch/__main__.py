"""`python -m zoomwatch` runs the command line."""

from zoomwatch.ui.cli import main

raise SystemExit(main())
