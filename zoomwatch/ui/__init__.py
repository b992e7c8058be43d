"""The faces: the CLI, the tray, the settings dialog and its form, icons, start at login.
They drive zoomwatch through the facade in zoomwatch.app."""
