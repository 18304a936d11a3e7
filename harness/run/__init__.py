"""`harness run`: start the emulator, the bot, Prometheus, the sampler and Locust; play; report.

One concern per module: runfolder (files), processes (children), sampler (psutil), prometheus
(config, server, alerts), pollers (ledger, faults), progress (terminal), orchestrator (the sequence).
"""
