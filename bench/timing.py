"""Timing helpers shared by the benchmarks."""

import statistics
import subprocess
import time


def median_seconds(command, env, runs: int) -> float:
    """Median wall time of running ``command`` ``runs`` times (output discarded; a failure raises)."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def timed(action) -> float:
    """Seconds ``action()`` took."""
    started = time.monotonic()
    action()
    return time.monotonic() - started
