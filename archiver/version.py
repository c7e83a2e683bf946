"""The version of archiver, recorded with every check and capture."""

__version__ = "0.1.0"
