"""SLA report builder: run folder -> typed report model -> report.json / report.html / report.md / junit.xml.

The entry point is harness.analysis.report.builder.build_report; the model of report.json is
harness.analysis.report.model.ReportData.
"""
