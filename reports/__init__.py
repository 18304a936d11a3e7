"""SLA report builder: run folder -> verdicts -> report.json / report.html / report.md / junit.xml."""

from reports.builder import Report, build_report

__all__ = ["Report", "build_report"]
