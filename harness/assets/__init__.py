"""Shipped data: scenario files, generated rules / rule tests / dashboards / Alertmanager config, runbooks.

In a checkout each entry here is a symlink to the top-level folder of the same name; a wheel carries
real copies. Read them through harness.core.assets, never through paths relative to a module.
"""
