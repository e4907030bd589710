"""The version of Patchbay, in one place (pyproject.toml names the same)."""

__version__ = "0.1.0"
