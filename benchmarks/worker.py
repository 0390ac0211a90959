"""One contender in its own process: ``python -m benchmarks.worker SPEC_JSON``.

The benchmark matrix (``benchmarks.matrix``) starts one worker per contender
and thread count, so its cold start, peak memory and thread settings are its
own. A worker imports TensorFlow only for a SavedModel contender, so the
``.tflite`` contenders run in environments without it (``tflite-runtime``
lives in its own virtual environment).

Protocol: the worker prints ``ready`` once it has imported, loaded and scored
its first request (the parent times that as the cold start), then one JSON
line with every figure. Its peak resident memory is read right after the
timed requests, before the optional accuracy pass loads the whole test split.

A history model (``kind`` ``history``) answers no id request: it is timed
call by call as a device uses it (``benchmarks.edge_latency.history_benchmark``,
``max_calls`` calls of each) and reports those timings as ``calls``.

Spec fields: ``kind`` (``savedmodel_signature``, ``savedmodel_call``,
``tflite`` or ``history``), ``model``, ``backend`` (tflite only), ``threads``, ``requests``
(``{N: [user_id, [titles]]}``, the same for every contender), ``warmup``,
``seconds_per_cell``, ``min_calls``, ``max_calls``, ``rmse_data`` (a test
``.npz`` to compute RMSE on, or empty) and ``order_reference`` (the SavedModel's
scores of some users' whole catalogue, ``matrix.write_order_reference``, to
compare this contender's order with; or empty).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence

import numpy as np

from benchmarks.measure import peak_rss_mb, summarize, time_calls
from edge_runtime.contract import TITLE_INPUT, USER_INPUT
from edge_runtime.ranker import HISTORY_KIND
from interactions import metrics
from trainer import scoring
from interactions.split_files import read_split

Scorer = Callable[[str, Sequence[str]], np.ndarray]


def savedmodel_contender(path: str, kind: str, threads: int) -> Scorer:
    """Scores one user against titles through the SavedModel, as a server would."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    loaded = tf.saved_model.load(path)
    if kind == "savedmodel_signature":
        signature = scoring.saved_model_scorer(loaded)
        return lambda user, titles: signature([user] * len(titles), list(titles))
    return lambda user, titles: loaded(
        {USER_INPUT: tf.constant([user] * len(titles)), TITLE_INPUT: tf.constant(list(titles))}).numpy().reshape(-1)


def tflite_scorer(path: str, backend: str, threads: int) -> tuple[Scorer, str]:
    """Scores through the edge client; returns the scorer and the backend's version."""
    from edge_runtime import EdgeRanker

    ranker = EdgeRanker(path, num_threads=threads, backend=backend or None)
    return ranker.score, f"{ranker.backend.name} {ranker.backend.version}"


def test_rmse(score: Scorer, data: str) -> float:
    """RMSE of the contender's predictions over the whole test split, one call per user."""
    split = read_split(data)
    return metrics.rmse(scoring.score_pairs(score, split["user_id"], split["movie_title"]), split["user_rating"])


def history_run(spec: dict) -> dict:
    """Measures a history model's calls per ``spec`` (see the module docstring)."""
    from benchmarks.config import EdgeBenchConfig
    from benchmarks.edge_latency import HISTORY_CALLS, history_benchmark
    from edge_runtime import EdgeRanker

    ranker = EdgeRanker(spec["model"], num_threads=spec["threads"], backend=spec.get("backend") or None)
    ranker.personalize([])
    print("ready", flush=True)
    config = EdgeBenchConfig(model=spec["model"], backend=spec.get("backend", ""), threads=spec["threads"],
                             warmup=spec["warmup"], repeats=spec["max_calls"], cold_starts=0)
    report = history_benchmark(ranker, config)
    return {"runtime": f"{ranker.backend.name} {ranker.backend.version}", "request": report["request"],
            "calls": {name: report[name] for name in HISTORY_CALLS},
            "peak_rss_mb": round(peak_rss_mb(), 1)}


def run(spec: dict) -> dict:
    """Measures one contender per ``spec`` (see the module docstring)."""
    if spec["kind"] == HISTORY_KIND:
        return history_run(spec)
    if spec["kind"] == "tflite":
        score, runtime = tflite_scorer(spec["model"], spec.get("backend", ""), spec["threads"])
    else:
        score = savedmodel_contender(spec["model"], spec["kind"], spec["threads"])
        import tensorflow as tf

        runtime = f"tensorflow {tf.__version__}"
    requests = spec["requests"]
    score(*next(iter(requests.values())))
    print("ready", flush=True)

    cells = {}
    for n, (user, titles) in requests.items():
        probe = time_calls(lambda: score(user, titles), spec["warmup"], 20)
        calls = int(np.clip(spec["seconds_per_cell"] * 1e6 / np.median(probe), spec["min_calls"], spec["max_calls"]))
        cells[n] = {**summarize(time_calls(lambda: score(user, titles), 0, calls)), "calls": calls}
    result = {"runtime": runtime, "cells": cells, "peak_rss_mb": round(peak_rss_mb(), 1)}
    if spec["rmse_data"]:
        result["test_rmse"] = test_rmse(score, spec["rmse_data"])
    if spec.get("order_reference"):
        with np.load(spec["order_reference"], allow_pickle=False) as reference:
            users, titles, expected = reference["users"].tolist(), reference["titles"].tolist(), reference["scores"]
        result["order"] = metrics.order_agreement(expected, scoring.catalogue_scores(score, users, titles))
    return result


if __name__ == "__main__":
    print(json.dumps(run(json.loads(sys.argv[1]))), flush=True)
