"""The `harness` command line: main.py dispatches, one module per subcommand beside it.

Each module defines HELP (one line), add_arguments(parser) and run(args) -> exit code. They are
imported only when their subcommand is used, so `harness --help` stays fast and no subcommand pays
for another's imports (Locust, for one, monkey-patches the standard library with gevent).
"""

COMMANDS: dict[str, str] = {
    "run": "Play a scenario (default: the 7-day peak-hour week) against a bot and write the run folder",
    "platform": "Run the DingTalk-Stream-compatible platform emulator in the foreground",
    "bot": "Run the reference bot against a platform",
    "report": "Build the SLA report (html, md, json, junit) from a run folder",
    "experiment": "Play a scenario for each arm of an experiment (A B A B ...) and compare the arms with confidence intervals",
    "diagnose": "Explain message loss, 401/403/429 errors and slowness found in a run folder",
    "doctor": "Check an app's setup (credentials, Stream mode, permissions, bot, IP whitelist, /test) on a platform",
    "profile": "Record py-spy flame graphs of a running process",
    "dashboards": "Check or push the Grafana dashboards",
    "bench": "Run the performance benchmarks and print ratios against in-run baselines",
}
