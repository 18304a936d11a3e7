"""Benchmarks, one module each, run by `harness bench NAME` as `python -m harness.bench.NAME`.

Each prints its figures with ratios against a baseline measured in the same run (docs/benchmarks/).
synthetic.py is not a benchmark: it writes the synthetic run folders the report benchmark reads.
"""

BENCHMARKS: dict[str, str] = {
    "bot": "reference bot throughput and latency vs a raw websockets echo server",
    "loadgen": "Locust worker round trips per CPU-second vs a plain asyncio client",
    "platform": "emulator messages per CPU-second vs a raw websockets echo server",
    "report": "report build time and memory on a synthetic 7-day run vs plain JSON-lines parsing",
}
