"""Prometheus rules and promtool tests, Grafana dashboards and Alertmanager for a run, generated from the contract."""
