"""A small CPU-bound program for profiling tests: `burn_cpu` is hot, `light_work` is not."""

import sys
import time


def burn_cpu(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def light_work() -> int:
    return sum(range(100))


def main(seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        burn_cpu(20_000)
        light_work()


if __name__ == "__main__":
    print("ready", flush=True)
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 60.0)
