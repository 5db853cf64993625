"""Spyglass desktop application: the PySide6 layer on top of `core`."""

__version__ = "0.1.0"
