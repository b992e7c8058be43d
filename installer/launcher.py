"""The bundled executable's entry point: the same command line as `python -m zoomwatch`
(no arguments on a desktop starts the tray)."""

from zoomwatch.ui.cli import main

raise SystemExit(main())
