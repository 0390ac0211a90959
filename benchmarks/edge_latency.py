"""The edge client's own cost: public API against the bare interpreter, cold start.

Runs where only the edge client is installed (numpy and an interpreter). For
one user against N candidates, single thread by default, it times

* ``api``: ``EdgeRanker.score(user, titles)`` from Python strings to scores;
* ``invoke``: a second interpreter on the same model with the same inputs
  already set, timing ``interpreter.invoke()`` alone (the floor);

in alternating rounds, so that anything else the machine does at the time
(another process exiting, memory being reclaimed) weighs on both alike;

and starts ``cold_starts`` fresh processes that import ``edge_runtime``, load
the model and score once, reporting their wall time and peak resident memory.

A history model is timed call by call as a device uses it
(``history_benchmark``): ``personalize`` of a ``history``-rating history,
``score`` of N candidates from the kept state, ``recommend`` (the signature's
top ``recommend_k`` over the whole catalogue) and the two-stage
``EdgeRanker.recommend`` (300 retrieved, ranked, best ``recommend_k`` kept).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np

from benchmarks.config import EdgeBenchConfig
from benchmarks.measure import machine, pick_request, summarize, time_calls, timer_overhead_us
from edge_runtime import EdgeRanker, atomic
from edge_runtime.contract import SIGNATURE, TITLE_INPUT, USER_INPUT

#: The API and the bare interpreter are timed in this many alternating rounds.
ROUNDS = 10
#: A history model's timed calls: personalize, score from the kept state, the recommend signature, and
#: ``EdgeRanker.recommend`` (retrieve 300, rank, keep the best).
HISTORY_CALLS = ("personalize", "score", "recommend", "recommend_two_stage")

# A scoring process as a device runs it: import, load, first score; then its peak RSS.
_COLD_START = """
import sys, json
from edge_runtime import EdgeRanker
ranker = EdgeRanker(sys.argv[1], backend=sys.argv[2] or None)
user = json.loads(sys.argv[3])
ranker.score(user if isinstance(user, str) else [tuple(pair) for pair in user], json.loads(sys.argv[4]))
from benchmarks.measure import peak_rss_mb
print(json.dumps({"peak_rss_mb": peak_rss_mb(), "tensorflow_imported": "tensorflow" in sys.modules}))
"""


def cold_start(config: EdgeBenchConfig, user: str | list, titles: list[str]) -> dict[str, float]:
    """Median wall time and largest peak RSS of fresh scoring processes (``user``: an id or a history)."""
    walls, peaks, tensorflow = [], [], False
    for _ in range(config.cold_starts):
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-c", _COLD_START, config.model, config.backend, json.dumps(user), json.dumps(titles)],
            capture_output=True, text=True, check=True,
        )
        walls.append(time.perf_counter() - started)
        figures = json.loads(result.stdout.strip().splitlines()[-1])
        peaks.append(figures["peak_rss_mb"])
        tensorflow |= figures["tensorflow_imported"]
    return {"wall_s_p50": round(float(np.median(walls)), 4), "wall_s_max": round(max(walls), 4),
            "peak_rss_mb_max": round(max(peaks), 1), "tensorflow_imported": tensorflow}


def summary(report: dict) -> str:
    """One line of what ``run_edge_benchmark`` (or ``history_benchmark``) measured, p50s first."""
    backend, request = report["backend"], report["request"]
    cold = ("; cold start {wall_s_p50:.3f} s, peak {peak_rss_mb_max:.1f} MB".format(**report["cold_start"])
            if report.get("cold_start") else "")
    if report.get("kind") == "history":
        return (f"{backend['name']} {backend['version']}, {request['threads']} thread(s), {request['catalogue']} "
                f"titles: personalize ({request['history']} ratings) p50 {report['personalize']['p50_us']:.1f} us, "
                f"score ({request['candidates']} candidates) {report['score']['p50_us']:.1f} us, recommend top "
                f"{request['recommend_k']} {report['recommend']['p50_us']:.1f} us, two-stage recommend "
                f"{report['recommend_two_stage']['p50_us']:.1f} us{cold}")
    api, invoke = report["api"], report["invoke"]
    return (f"{backend['name']} {backend['version']}, {request['candidates']} candidates, {request['threads']} "
            f"thread(s): API p50/p95/p99 {api['p50_us']:.1f}/{api['p95_us']:.1f}/{api['p99_us']:.1f} us, bare invoke "
            f"p50 {invoke['p50_us']:.1f} us (x{report['api_over_invoke_p50']:.2f}){cold}")


def run_edge_benchmark(config: EdgeBenchConfig) -> dict:
    """Measures, and writes ``config.output`` (``summary`` says it in a line).

    Returns:
        The results written to JSON.
    """
    ranker = EdgeRanker(config.model, num_threads=config.threads, backend=config.backend or None)
    if ranker.kind == "history":
        report = history_benchmark(ranker, config)
        atomic.write_json(config.output, report)
        return report
    user, titles = pick_request(config.data, config.candidates, config.seed)
    bare = ranker.backend.interpreter_class(model_content=ranker.model.content, num_threads=config.threads)
    inputs = bare.get_signature_runner(SIGNATURE).get_input_details()
    bare.resize_tensor_input(inputs[TITLE_INPUT]["index"], [len(titles)])
    bare.allocate_tensors()
    bare.set_tensor(inputs[USER_INPUT]["index"], np.array([user.encode()], dtype=np.object_))
    bare.set_tensor(inputs[TITLE_INPUT]["index"], np.array([t.encode() for t in titles], dtype=np.object_))

    def api_call() -> None:
        ranker.score(user, titles)

    for fn in (api_call, bare.invoke):
        time_calls(fn, config.warmup, 0)
    per_round = max(1, config.repeats // ROUNDS)
    api_rounds, invoke_rounds = [], []
    for _ in range(ROUNDS):
        api_rounds.append(time_calls(api_call, 0, per_round))
        invoke_rounds.append(time_calls(bare.invoke, 0, per_round))
    api, invoke = summarize(np.concatenate(api_rounds)), summarize(np.concatenate(invoke_rounds))

    report = {
        "machine": machine(),
        "backend": {"name": ranker.backend.name, "version": ranker.backend.version},
        "request": {"candidates": len(titles), "threads": config.threads, "warmup": config.warmup,
                    "repeats": per_round * ROUNDS, "rounds": ROUNDS},
        "timer_overhead_us": round(timer_overhead_us(), 3),
        "api": api,
        "invoke": invoke,
        "api_over_invoke_p50": round(api["p50_us"] / invoke["p50_us"], 3),
        "cold_start": cold_start(config, user, titles),
    }
    atomic.write_json(config.output, report)
    return report


def history_benchmark(ranker: EdgeRanker, config: EdgeBenchConfig, catalogue: list[str] | None = None) -> dict:
    """Times a history model's calls (see the module docstring) in alternating rounds, and its cold start.

    Args:
        ranker: A history model.
        config: Request sizes, repeats and cold starts (none: not measured).
        catalogue: Titles to draw requests from; ``None``: the bundle's.
    """
    rng = np.random.default_rng(config.seed)
    catalogue = catalogue or ranker.titles()
    history = [(title, float(rating)) for title, rating in zip(
        rng.choice(catalogue, min(config.history, len(catalogue)), replace=False).tolist(),
        rng.integers(1, 6, config.history))]
    candidates = rng.choice(catalogue, min(config.candidates, len(catalogue)), replace=False).tolist()
    state = ranker.personalize(history)
    calls = dict(zip(HISTORY_CALLS, (
        lambda: ranker.personalize(history),
        lambda: ranker.score(state, candidates),
        lambda: ranker.retrieve(state, config.recommend_k),
        lambda: ranker.recommend(state, config.recommend_k),
    )))
    for call in calls.values():
        time_calls(call, max(1, config.warmup // 10), 0)
    per_round = max(1, config.repeats // ROUNDS)
    rounds: dict[str, list[np.ndarray]] = {name: [] for name in calls}
    for _ in range(ROUNDS):
        for name, call in calls.items():
            rounds[name].append(time_calls(call, 0, per_round))
    timings = {name: summarize(np.concatenate(times)) for name, times in rounds.items()}
    report = {
        "machine": machine(),
        "backend": {"name": ranker.backend.name, "version": ranker.backend.version},
        "kind": "history",
        "request": {"history": len(history), "candidates": len(candidates), "recommend_k": config.recommend_k,
                    "catalogue": len(catalogue), "threads": config.threads, "repeats": per_round * ROUNDS,
                    "rounds": ROUNDS},
        "timer_overhead_us": round(timer_overhead_us(), 3),
        **timings,
        "size_bytes": len(ranker.model.content),
    }
    if config.cold_starts > 0:
        report["cold_start"] = cold_start(config, history, candidates)
    return report
