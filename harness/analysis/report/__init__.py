"""SLA report builder: run folder -> verdicts -> report.json / report.html / report.md / junit.xml.

The entry point is harness.analysis.report.builder.build_report.
"""
