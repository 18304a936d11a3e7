"""Stress-test and observability harness for enterprise AI chat bots."""

from harness.core.version import __version__

__all__ = ["__version__"]
