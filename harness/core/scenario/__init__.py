"""Scenario files: schema (typed fields and defaults), reader (field-path errors) and config (load, resolve)."""
