"""A deliberate memory leak, off by default: proves the harness's leak detection names the culprit.

With `leak_demo.bytes_per_message` > 0 (docs/bot.md), every handled message leaves that many bytes
behind for good, allocated in `remember_for_leak_demo`: the RSS slope, the "memory leak" finding and
the growing allocation site between two memory snapshots should all point here (docs/diagnose.md).
"""

from __future__ import annotations


class LeakDemo:
    def __init__(self, bytes_per_message: int) -> None:
        self.bytes_per_message = bytes_per_message
        self._kept: list[bytes] = []

    def remember_for_leak_demo(self) -> None:
        # a filled buffer, not bytes(n): untouched zero pages would not count in the resident set
        self._kept.append(b"\x5a" * self.bytes_per_message)
