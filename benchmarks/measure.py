"""Timing helpers shared by the benchmarks; numpy only, no TensorFlow."""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge_runtime.errors import EdgeRankError


class BenchError(EdgeRankError):
    """A benchmark cannot run as asked (too few titles, unknown contender, a failed worker)."""


def time_calls(fn: Callable[[], object], warmup: int, repeats: int) -> np.ndarray:
    """Calls ``fn`` ``warmup`` times, then times ``repeats`` calls one by one.

    Returns:
        Per-call latencies in microseconds.
    """
    for _ in range(warmup):
        fn()
    latencies = np.empty(repeats, dtype=np.float64)
    for i in range(repeats):
        started = time.perf_counter_ns()
        fn()
        latencies[i] = time.perf_counter_ns() - started
    return latencies / 1e3


def timer_overhead_us(repeats: int = 10_000) -> float:
    """Median cost of timing an empty call, in microseconds: reported beside the figures, which include it."""
    return float(np.median(time_calls(lambda: None, 100, repeats)))


def summarize(latencies_us: np.ndarray) -> dict[str, float]:
    """p50, p95, p99, mean and min of latencies, in microseconds."""
    p50, p95, p99 = np.percentile(latencies_us, [50, 95, 99])
    return {
        "p50_us": round(float(p50), 2),
        "p95_us": round(float(p95), 2),
        "p99_us": round(float(p99), 2),
        "mean_us": round(float(latencies_us.mean()), 2),
        "min_us": round(float(latencies_us.min()), 2),
    }


def pick_request(data: str | Path, candidates: int, seed: int) -> tuple[str, list[str]]:
    """The user with the most test ratings and ``candidates`` distinct test titles.

    Args:
        data: ``.npz`` with ``user_id`` and ``movie_title`` (``data/test.npz``).
        candidates: How many titles.
        seed: Picks the titles.
    """
    from interactions.split_files import read_split  # here, so a cold-start child that reads its peak memory skips it

    columns = read_split(data, ("user_id", "movie_title"), "benchmark data")
    users, titles = columns["user_id"], columns["movie_title"]
    values, counts = np.unique(users, return_counts=True)
    pool = np.unique(titles)
    if candidates > len(pool):
        raise BenchError(f"{data} holds {len(pool)} distinct titles, fewer than {candidates} candidates")
    chosen = np.random.default_rng(seed).choice(pool, size=candidates, replace=False)
    return str(values[np.argmax(counts)]), chosen.tolist()


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB.

    On Linux it is VmHWM from /proc/self/status, which belongs to this process
    image (getrusage's ru_maxrss carries the parent's peak across fork and
    exec); elsewhere getrusage.
    """
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)


def machine() -> dict[str, object]:
    """Platform, CPU model (from /proc/cpuinfo on Linux) and CPU count."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"platform": platform.platform(), "cpu": cpu, "cpus": os.cpu_count(), "python": platform.python_version()}
