"""Latency of one scoring request: the SavedModel against the ``.tflite``.

Every contender scores the same user against the same N candidates, from
Python strings to a numpy array of scores, so input conversion is counted
for all of them. Each is called ``warmup`` times untimed, then ``repeats``
times, each call timed on its own with ``time.perf_counter_ns``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from benchmarks.config import BenchConfig
from benchmarks.measure import machine, pick_request, summarize, time_calls
from edge_runtime import EdgeRanker, atomic

log = logging.getLogger(__name__)


def run_latency_benchmark(config: BenchConfig) -> dict:
    """Times every contender, prints a table, and writes ``config.output``.

    Must run before TensorFlow has executed anything in this process, so that
    the thread settings apply (``edgerank bench`` runs in its own process).

    Returns:
        The results written to JSON.
    """
    tf.config.threading.set_intra_op_parallelism_threads(config.threads)
    tf.config.threading.set_inter_op_parallelism_threads(config.threads)
    user, titles = pick_request(config.data, config.candidates, config.seed)

    loaded = tf.saved_model.load(config.saved_model)
    signature = loaded.signatures["serving_default"]
    ranker = EdgeRanker(config.model, num_threads=config.threads)
    pair_users = [user] * len(titles)

    contenders: dict[str, Callable[[], np.ndarray]] = {
        "savedmodel_signature": lambda: signature(
            user_id=tf.constant(pair_users), movie_title=tf.constant(titles)
        )["rating"].numpy(),
        "savedmodel_call": lambda: loaded(
            {"user_id": tf.constant(pair_users), "movie_title": tf.constant(titles)}
        ).numpy().reshape(-1),
        f"tflite_{ranker.backend.name}": lambda: ranker.score(user, titles),
    }
    reference = contenders["savedmodel_signature"]()
    results = {}
    for name, fn in contenders.items():
        summary = summarize(time_calls(fn, config.warmup, config.repeats))
        summary["max_abs_diff_vs_savedmodel"] = float(np.max(np.abs(fn() - reference)))
        results[name] = summary
        log.info("%s: p50 %.1f us", name, summary["p50_us"])

    tflite = results[f"tflite_{ranker.backend.name}"]
    report = {
        "machine": machine(),
        "versions": {"tensorflow": tf.__version__,
                     ranker.backend.name: ranker.backend.version},
        "request": {"user_id": user, "candidates": len(titles), "threads": config.threads,
                    "warmup": config.warmup, "repeats": config.repeats},
        "contenders": results,
        "tflite_speedup_p50": round(results["savedmodel_signature"]["p50_us"] / tflite["p50_us"], 2),
    }
    print(format_table(report))
    atomic.write_json(config.output, report)
    return report


def format_table(report: dict) -> str:
    """A fixed-width table of the contenders' latencies."""
    request = report["request"]
    lines = [
        f"{request['candidates']} candidates, {request['threads']} thread(s), "
        f"{request['repeats']} timed calls after {request['warmup']} warm-up",
        f"{'contender':<28}{'p50 us':>10}{'p95 us':>10}{'mean us':>10}",
    ]
    for name, figures in report["contenders"].items():
        lines.append(f"{name:<28}{figures['p50_us']:>10.1f}{figures['p95_us']:>10.1f}{figures['mean_us']:>10.1f}")
    lines.append(f"tflite p50 speed-up over the SavedModel signature: {report['tflite_speedup_p50']}x")
    return "\n".join(lines)
