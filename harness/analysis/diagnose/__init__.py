"""`harness diagnose`: runbooks as code over a run folder.

Each runbook module reads the report's analysis of the run folder (the typed report model) and the
bot's log, and returns findings: what happened, the evidence (numbers, simulated time, the file or
query), the likely cause, what to do and the runbook page. A clean run yields no findings.
harness.analysis.diagnose.runbooks runs them all.
"""
