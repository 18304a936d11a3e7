"""Benchmarks, one module each, run by `harness bench NAME` as `python -m harness.bench.NAME`.

Each prints its figures with ratios against a baseline measured in the same run and the load average,
repeats its phases (`--repeat`, default 2) and gives the spread (docs/benchmarks/); chaos prints counts
(disconnects survived, frames fuzzed, messages lost), which are not repeated. common.py is what they
share; fuzz.py draws the chaos benchmark's fuzzed frames; synthetic.py is not a benchmark: it writes
the synthetic run folders the report benchmark reads.
"""

BENCHMARKS: dict[str, str] = {
    "bot": "reference bot throughput and latency vs a raw websockets echo server",
    "capacity": "largest offered peak one machine sustains against the reference bot, and the first limit",
    "chaos": "1,000 forced disconnects, hung connections and 300,000 fuzzed frames under load: nothing lost",
    "loadgen": "Locust worker round trips per CPU-second vs a minimal locustfile and a plain asyncio client",
    "memory": "emulator RSS per message answered by card, after its memory window (flat for a 7-day run)",
    "platform": "emulator messages per CPU-second vs a raw websockets echo server",
    "report": "report build time and memory on a synthetic 7-day run vs plain JSON-lines parsing",
}
