"""Stress-test and observability harness for enterprise AI chat bots."""

__version__ = "0.1.0"
