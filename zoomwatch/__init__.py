"""zoomwatch: keeps Zoom recordings safe by backing them up, verified, as soon as they are finished."""

__version__ = "0.1.0"
