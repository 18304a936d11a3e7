"""Locust users, load shapes (the 7-day peak-hour week) and scenario files for `harness run`.

The shape math (profile, timemap, shapes) and the scenario loader are pure Python and import no
Locust, so the orchestrator can use them without gevent's monkey-patching.
"""
