"""The one version of the distribution (pyproject.toml reads it from here), shared by the reference bot."""

__version__ = "0.2.0"
