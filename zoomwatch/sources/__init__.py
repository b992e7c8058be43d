"""The producers of catalog rows: the local Zoom folder (local.py) and the Zoom cloud (zoom/)."""
