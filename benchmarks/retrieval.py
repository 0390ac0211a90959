"""``edgerank bench retrieval``: the tuned ScaNN index against exact search, as the catalogue grows.

For each catalogue, synthetic (clustered candidate embeddings of the tutorial
towers' dimension, N = 1,682, 100,000 and 1,000,000 by default) and the
trained retrieval model's own query and candidate embeddings (943 users
against 1,664 titles):

* the exact top 100 of every query (brute force, the reference);
* a ScaNN index with the settings derived from N (``trainer.scann_index``,
  the same derivation the trainer's serving index uses), and, for the curve,
  the same index searching fewer and more leaves;
* per single query, one thread: ScaNN's p50/p95 latency and its recall@10 and
  @100 against the exact answer; exact search's latency two ways, NumPy
  ``argpartition`` (the fastest exact top-k in NumPy) and a full ``argsort``.

The measurement runs in a child process with every BLAS/OpenMP pool at one
thread, so "single thread" holds for NumPy too. Writes ``results.json`` and
``recall_latency.png`` (recall@10 against p50 latency, log axis) into
``output_dir``.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.config import RetrievalBenchConfig
from benchmarks.measure import BenchError, machine, summarize, time_calls
from edge_runtime import atomic

log = logging.getLogger(__name__)

#: Environment that keeps NumPy's BLAS and ScaNN's query path on one thread.
SINGLE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def quick(config: RetrievalBenchConfig) -> RetrievalBenchConfig:
    """``--quick``: two small synthetic corpora, few queries."""
    return dataclasses.replace(config, corpus_sizes=(1_682, 20_000), queries=200, latency_queries=300,
                               brute_force_queries=20, sweep=(1.0, 2.0))


def run_retrieval_bench(config: RetrievalBenchConfig) -> dict:
    """Runs the benchmark in a single-threaded child process; returns ``results.json``'s contents.

    Raises:
        BenchError: Bad settings, or the child failed (its last lines are in the message).
    """
    if config.quick:
        config = quick(config)
    if not config.corpus_sizes and not config.movielens:
        raise BenchError("nothing to measure: give --corpus-sizes or --movielens")
    if any(n < 100 for n in config.corpus_sizes) or config.queries < 1 or config.latency_queries < 1:
        raise BenchError("corpus sizes must be >= 100 and query counts >= 1")
    child = subprocess.run([sys.executable, "-m", "benchmarks.retrieval", json.dumps(dataclasses.asdict(config))],
                           env={**os.environ, **SINGLE_THREAD}, stderr=subprocess.PIPE, text=True)
    if child.returncode != 0:
        tail = " | ".join(child.stderr.strip().splitlines()[-3:])
        raise BenchError(f"the retrieval benchmark failed with status {child.returncode}: {tail}")
    sys.stderr.write(child.stderr)
    return json.loads((Path(config.output_dir) / "results.json").read_text())


def synthetic(n: int, queries: int, config: RetrievalBenchConfig, rng: np.random.Generator
              ) -> tuple[np.ndarray, np.ndarray]:
    """Clustered candidates [n, d] and queries [queries, d] drawn around the same centres."""
    clusters = config.clusters or max(2, round(np.sqrt(n)))
    centres = rng.standard_normal((clusters, config.dimension), dtype=np.float32)

    def draw(count: int) -> np.ndarray:
        points = centres[rng.integers(0, clusters, count)]
        return points + config.spread * rng.standard_normal(points.shape, dtype=np.float32)

    return draw(n), draw(queries)


def measure_corpus(name: str, candidates: np.ndarray, queries: np.ndarray, config: RetrievalBenchConfig) -> dict:
    """Every figure for one catalogue (see the module docstring)."""
    import scann

    from trainer import scann_index

    n = len(candidates)
    started = time.perf_counter()
    exact = scann_index.exact_top_k(queries, candidates, 100, batch=max(1, 2**25 // n))
    exact_s = time.perf_counter() - started
    settings = scann_index.derive_settings(n, k=10, num_leaves=config.leaves, num_leaves_to_search=config.leaves_to_search,
                                           dimensions_per_block=config.dims_per_block, reorder=config.reorder)
    started = time.perf_counter()
    searcher = scann_index.builder(scann.scann_ops_pybind, candidates, 10, settings, training_threads=os.cpu_count() or 1).build()
    build_s = time.perf_counter() - started

    cycle = itertools.cycle(queries)
    points = []
    for multiple in sorted(set(config.sweep) | {1.0}):
        leaves = max(1, min(settings.num_leaves, round(settings.num_leaves_to_search * multiple)))
        if any(point["leaves_to_search"] == leaves for point in points):
            continue
        at_10 = np.array([searcher.search(q, 10, settings.reorder, leaves)[0] for q in queries])
        at_100 = np.array([searcher.search(q, 100, max(settings.reorder, 200), leaves)[0] for q in queries])
        latency = time_calls(lambda: searcher.search(next(cycle), 10, settings.reorder, leaves), 100,
                             config.latency_queries)
        points.append({"leaves_to_search": leaves, "derived": multiple == 1.0,
                       "recall_at_10": round(scann_index.recall(at_10, exact[:, :10]), 4),
                       "recall_at_100": round(scann_index.recall(at_100, exact), 4), **summarize(latency)})

    timed = queries[: config.brute_force_queries]
    brute = {}
    for method, top in (("numpy_argpartition", _argpartition_top10), ("numpy_argsort", _argsort_top10)):
        rows = itertools.cycle(timed)
        brute[method] = summarize(time_calls(lambda: top(candidates, next(rows)), 3, len(timed)))
    derived = next(point for point in points if point["derived"])
    speedup = {method: round(figures["p50_us"] / derived["p50_us"], 1) for method, figures in brute.items()}
    log.info("%s: N=%d, ScaNN %s: recall@10 %.4f @100 %.4f, p50 %.1f µs; exact p50 %.0f µs (%.0f× slower)",
             name, n, dataclasses.asdict(settings), derived["recall_at_10"], derived["recall_at_100"],
             derived["p50_us"], brute["numpy_argpartition"]["p50_us"], speedup["numpy_argpartition"])
    return {"candidates": n, "queries": len(queries), "dimension": int(candidates.shape[1]),
            "settings": dataclasses.asdict(settings), "build_s": round(build_s, 2),
            "exact_top100_all_queries_s": round(exact_s, 2), "scann": points, "brute_force": brute,
            "speedup_p50": speedup}


def _argpartition_top10(candidates: np.ndarray, query: np.ndarray) -> np.ndarray:
    scores = candidates @ query
    top = np.argpartition(-scores, 9)[:10]
    return top[np.argsort(-scores[top])]


def _argsort_top10(candidates: np.ndarray, query: np.ndarray) -> np.ndarray:
    return np.argsort(-(candidates @ query))[:10]


def main(config: RetrievalBenchConfig) -> dict:
    """The measurement itself (in the single-threaded child): writes and returns the report."""
    rng = np.random.default_rng(config.seed)
    corpora = {}
    for n in config.corpus_sizes:
        candidates, queries = synthetic(n, config.queries, config, rng)
        corpora[f"synthetic_{n}"] = measure_corpus(f"synthetic_{n}", candidates, queries, config)
    if config.movielens:
        from trainer.retrieval_serving import read_embeddings

        embeddings = read_embeddings(config.movielens)  # the 943 users query the 1,664 titles
        corpora["movielens"] = measure_corpus("movielens", embeddings["title_embeddings"],
                                              embeddings["user_embeddings"], config)
    report = {"machine": machine(), "config": dataclasses.asdict(config), "threads": SINGLE_THREAD,
              "corpora": corpora}
    output = Path(config.output_dir)
    atomic.write_json(output / "results.json", report)
    plot(report, output / "recall_latency.png")
    return report


def plot(report: dict, path: Path) -> None:
    """recall@10 against p50 latency per catalogue: ScaNN's curve, exact search as a point at recall 1."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for (name, corpus), colour in zip(report["corpora"].items(), plt.rcParams["axes.prop_cycle"].by_key()["color"]):
        points = corpus["scann"]
        axes.plot([p["p50_us"] for p in points], [p["recall_at_10"] for p in points], marker="o", color=colour,
                  label=f"ScaNN, {name}")
        derived = next(p for p in points if p["derived"])
        axes.scatter([derived["p50_us"]], [derived["recall_at_10"]], s=90, facecolors="none", edgecolors=colour)
        axes.scatter([corpus["brute_force"]["numpy_argpartition"]["p50_us"]], [1.0], marker="s", color=colour,
                     label=f"exact, {name}")
    axes.set(xscale="log", xlabel="p50 latency per single query, 1 thread (µs)", ylabel="recall@10 against exact",
             title="Retrieval: ScaNN (circled: derived settings) and exact search")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7)
    figure.tight_layout()
    with atomic.file(path) as tmp:
        figure.savefig(tmp, format="png", dpi=120)
    plt.close(figure)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    config = RetrievalBenchConfig(**json.loads(sys.argv[1]))
    main(dataclasses.replace(config, corpus_sizes=tuple(config.corpus_sizes), sweep=tuple(config.sweep)))
