"""Scenario files: schema (pydantic models with defaults and checks) and config (load, resolve, mask, JSON Schema)."""
