"""``edgerank bench``: the SavedModel against every edge contender, measured as a user would.

Contenders: the SavedModel through TensorFlow (its restored ``__call__`` and
its ``serving_default`` signature), and each converted model on each edge
backend installed: ``ai-edge-litert`` here, ``tflite-runtime`` through the
Python of its own environment. A history bundle among the models (manifest
``kind`` ``history``) is timed call by call as a device uses it
(``benchmarks.edge_latency.history_benchmark``: personalize, score, recommend,
two-stage recommend) in its own table, since it takes no user id and so
answers no request of the id matrix. Every (contender, threads) pair runs in its own
process (``benchmarks.worker``), so its cold start, peak memory and thread
settings are its own. Every contender scores the same requests, drawn from the
test split with one seed; warm-up calls are not timed; the timer's own cost is
measured and reported.

Writes into ``output_dir``: ``results.json`` (machine, versions, every
figure, each cell's p50 ratio to the SavedModel signature's), ``results.md``
(the tables), ``latency.png`` (p50 against candidate count, log axes) and
``size_rmse.png`` (model size against test RMSE).
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.config import BenchConfig
from benchmarks.edge_latency import HISTORY_CALLS
from benchmarks.flops import request_flops
from benchmarks.measure import BenchError, machine, pick_request, timer_overhead_us
from edge_runtime import atomic
from edge_runtime.manifest import load_model, read_titles
from edge_runtime.ranker import HISTORY_KIND, RETRIEVED_CANDIDATES
from trainer import scoring, serving
from interactions.split_files import read_split

log = logging.getLogger(__name__)

#: The reference every ratio is taken against.
REFERENCE = "savedmodel_signature"
SAVEDMODEL_CONTENDERS = ("savedmodel_call", "savedmodel_signature")


@dataclasses.dataclass(frozen=True)
class Contender:
    """One thing to measure: a name, the worker spec's kind and model, its Python, its size on disk."""

    name: str
    kind: str
    model: str
    python: str
    size_bytes: int
    backend: str = ""


def quick(config: BenchConfig) -> BenchConfig:
    """``--quick``: one thread count and a few hundred calls per cell."""
    return dataclasses.replace(config, threads=config.threads[:1], warmup=10, seconds_per_cell=0.05,
                               min_calls=100, max_calls=300)


def available_contenders(config: BenchConfig) -> list[Contender]:
    """Every contender this machine can run, by name."""
    saved_model = serving.resolve(config.saved_model)
    saved_model_bytes = sum(p.stat().st_size for p in saved_model.rglob("*") if p.is_file())
    contenders = [Contender(kind, kind, str(saved_model), sys.executable, saved_model_bytes)
                  for kind in SAVEDMODEL_CONTENDERS]
    runtimes = [("ai_edge_litert", sys.executable)]
    if Path(config.tflite_runtime_python).exists():
        runtimes.append(("tflite_runtime", str(Path(config.tflite_runtime_python).absolute())))
    for model in config.models:
        if not Path(model).exists():
            raise BenchError(f"{model} does not exist: make the bundles with `edgerank convert` (or `make demo`), "
                             "or name the ones you have with --models")
        verified = load_model(model)
        kind = HISTORY_KIND if verified.manifest.get("kind") == HISTORY_KIND else "tflite"
        for backend, python in runtimes:
            contenders.append(Contender(f"tflite_{verified.path.parent.name}_{backend}", kind, model, python,
                                        len(verified.content), backend))
    return contenders


def write_order_reference(config: BenchConfig, model: str, path: Path) -> None:
    """Scores ``config.order_users`` users' whole catalogue with the SavedModel into ``path`` (``.npz``).

    The catalogue is that of ``model``, an id bundle; the workers of the converted
    models score the same users and titles and compare (``benchmarks.worker``).
    """
    held = scoring.reference_scores(scoring.saved_model_scorer(serving.resolve(config.saved_model)),
                                    read_split(config.data), read_titles(load_model(model)),
                                    config.order_users, config.seed)
    buffer = io.BytesIO()
    np.savez(buffer, users=np.array(held.users), titles=np.array(held.titles), scores=held.catalogue_scores)
    atomic.write_bytes(path, buffer.getvalue())


def _run_worker(contender: Contender, threads: int, requests: dict, config: BenchConfig, order_reference: str) -> dict:
    first_pass = threads == config.threads[0]
    spec = {"kind": contender.kind, "model": contender.model, "backend": contender.backend, "threads": threads,
            "requests": requests, "warmup": config.warmup, "seconds_per_cell": config.seconds_per_cell,
            "min_calls": config.min_calls, "max_calls": config.max_calls,
            "rmse_data": config.data if first_pass and contender.kind != HISTORY_KIND else "",
            "order_reference": order_reference if first_pass and contender.kind == "tflite" else ""}
    started = time.perf_counter()
    worker = subprocess.Popen([contender.python, "-m", "benchmarks.worker", json.dumps(spec)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = worker.stdout.readline().strip()
    cold_start = time.perf_counter() - started
    rest, errors = worker.communicate()
    if worker.returncode != 0 or first != "ready":
        tail = " | ".join(errors.strip().splitlines()[-3:])
        raise BenchError(f"{contender.name} ({threads} threads) failed with status {worker.returncode}: {tail}")
    result = json.loads(rest.strip().splitlines()[-1])
    result["cold_start_s"] = round(cold_start, 3)
    return result


def run_matrix(config: BenchConfig) -> dict:
    """Runs every selected contender at every thread count; writes the report files.

    Returns:
        The contents of ``results.json``.

    Raises:
        BenchError: An unknown contender name, or a worker that failed.
    """
    from tqdm import tqdm

    if config.quick:
        config = quick(config)
    available = {c.name: c for c in available_contenders(config)}
    # The models that take a user id, in --models order: the matrix's and the order check's.
    ids = list(dict.fromkeys(contender.model for contender in available.values() if contender.kind == "tflite"))
    if not ids:
        raise BenchError("--models names no id model, and the matrix compares id models with the SavedModel "
                         "(`edgerank bench-edge` measures a history bundle alone)")
    unknown = set(config.contenders) - set(available)
    if unknown:
        raise BenchError(f"unknown contenders {sorted(unknown)}; available: {sorted(available)}")
    selected = [available[name] for name in (config.contenders or available)]
    architecture = load_model(ids[0]).manifest["architecture"]

    requests = {str(n): pick_request(config.data, n, config.seed) for n in config.candidate_counts}
    output = Path(config.output_dir)
    order_reference = ""
    if config.order_users > 0 and any(contender.kind == "tflite" for contender in selected):
        order_reference = str(output / "order_reference.npz")
        write_order_reference(config, ids[0], Path(order_reference))
    runs = [(contender, threads) for contender in selected for threads in config.threads]
    results: dict[str, dict] = {}
    history: dict[str, dict] = {}
    for contender, threads in tqdm(runs, desc="contenders", unit="process", file=sys.stderr):
        measured = _run_worker(contender, threads, requests, config, order_reference)
        entry = (history if contender.kind == HISTORY_KIND else results).setdefault(contender.name, {
            "runtime": measured["runtime"], "model": contender.model,
            "size_bytes": contender.size_bytes,
            "threads": {},
        })
        if threads == config.threads[0]:
            entry["cold_start_s"], entry["peak_rss_mb"] = measured["cold_start_s"], measured["peak_rss_mb"]
        if "test_rmse" in measured:
            entry["test_rmse"] = round(measured["test_rmse"], 5)
        if "order" in measured:
            entry["order"] = measured["order"]
        if contender.kind == HISTORY_KIND:
            entry["request"] = measured["request"]
            entry["threads"][str(threads)] = measured["calls"]
            continue
        for n, cell in measured["cells"].items():
            flops = request_flops(architecture, int(n), user_side_once=contender.kind == "tflite")
            cell["candidates_per_s"] = round(int(n) / (cell["p50_us"] / 1e6))
            cell["flops"] = flops
            cell["gflops_per_s"] = round(flops / (cell["p50_us"] * 1e3), 3)
        entry["threads"][str(threads)] = measured["cells"]

    if REFERENCE in results:
        for entry in results.values():
            for threads, cells in entry["threads"].items():
                for n, cell in cells.items():
                    cell["p50_vs_savedmodel_signature"] = round(
                        cell["p50_us"] / results[REFERENCE]["threads"][threads][n]["p50_us"], 4)
    report = {
        "machine": machine(),
        "config": dataclasses.asdict(config),
        "timer_overhead_us": round(timer_overhead_us(), 3),
        "flops_note": "multiply-adds x2 of the dense layers; lookups, biases and activations not counted",
        "peak_rss_note": "each contender's own process, read after loading and serving the timed requests "
                         "(before its accuracy pass, which loads the whole test split)",
        "order_note": f"each converted model in its own runtime against the float32 SavedModel, over "
                      f"{config.order_users} users' whole catalogue (interactions.metrics.order_agreement)",
        "architecture": architecture,
        "contenders": results,
        "history": history,
    }
    atomic.write_json(output / "results.json", report)
    atomic.write_bytes(output / "results.md", markdown_table(report).encode())
    plot(report, output)
    print(markdown_table(report))
    return report


def markdown_table(report: dict) -> str:
    """One row per contender and thread count: latency by N, then the 100-candidate figures."""
    counts = report["config"]["candidate_counts"]
    focus = "100" if 100 in counts else str(counts[-1])
    head = (["contender", "threads"] + [f"p50 µs N={n}" for n in counts]
            + [f"p95/p99 µs N={focus}", f"cand/s N={focus}", f"GFLOP/s N={focus}", f"× SavedModel sig. N={focus}",
               "cold start s", "peak MB", "size KB", "test RMSE", "distinct scores*", "top-10 overlap*",
               "pairs in order*"])
    rows = []
    for name, entry in report["contenders"].items():
        for threads, cells in entry["threads"].items():
            cell = cells[focus]
            rows.append([name, threads] + [f"{cells[str(n)]['p50_us']:.1f}" for n in counts] + [
                f"{cell['p95_us']:.1f} / {cell['p99_us']:.1f}", f"{cell['candidates_per_s']:,}",
                f"{cell['gflops_per_s']:.2f}", f"{cell.get('p50_vs_savedmodel_signature', float('nan')):.3f}",
                f"{entry.get('cold_start_s', float('nan')):.2f}", f"{entry.get('peak_rss_mb', float('nan')):.0f}",
                f"{entry['size_bytes'] / 1024:.0f}", f"{entry.get('test_rmse', float('nan')):.4f}",
                *(f"{entry['order'][key]:.{digits}f}" if "order" in entry else ""
                  for key, digits in (("distinct_scores", 0), ("top_10_overlap", 4), ("pair_agreement", 4)))])
    hardware = report["machine"]
    return _table(head, rows) + (
        f"\n\\* {report['order_note']}.\n\n{history_table(report)}Machine: {hardware['cpu']}, "
        f"{hardware['cpus']} CPUs, {hardware['platform']}.\n")


def history_table(report: dict) -> str:
    """One row per history contender and thread count: p50 of each call a device makes; empty without any."""
    if not report.get("history"):
        return ""
    request = next(iter(report["history"].values()))["request"]
    head = ["history contender", "threads", f"personalize µs ({request['history']} ratings)",
            f"score µs ({request['candidates']} titles)", f"recommend top {request['recommend_k']} µs",
            f"retrieve {RETRIEVED_CANDIDATES} + rank, top {request['recommend_k']} µs", "cold start s", "peak MB", "size KB"]
    rows = [[name, threads, *(f"{calls[call]['p50_us']:.1f}" for call in HISTORY_CALLS),
             f"{entry['cold_start_s']:.2f}", f"{entry['peak_rss_mb']:.0f}", f"{entry['size_bytes'] / 1024:.0f}"]
            for name, entry in report["history"].items() for threads, calls in entry["threads"].items()]
    return (_table(head, rows) + f"\nHistory models: p50 over {request['catalogue']:,} titles, the user's state "
            "kept between calls (benchmarks.edge_latency.history_benchmark).\n\n")


def _table(head: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(value) for value in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def plot(report: dict, output: Path) -> None:
    """``latency.png`` (p50 against N, log-log) and ``size_rmse.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for name, entry in report["contenders"].items():
        for threads, cells in entry["threads"].items():
            counts = sorted(int(n) for n in cells)
            axes.plot(counts, [cells[str(n)]["p50_us"] for n in counts], marker="o",
                      linestyle="-" if threads == "1" else "--", label=f"{name} ({threads} thr)")
    axes.set(xscale="log", yscale="log", xlabel="candidates per request", ylabel="p50 latency (µs)",
             title="Scoring one user against N candidates")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7)
    figure.tight_layout()
    _save(figure, output / "latency.png")

    figure, axes = plt.subplots(figsize=(6, 4))
    for name, entry in report["contenders"].items():
        if "test_rmse" in entry:
            axes.scatter(entry["size_bytes"] / 1024, entry["test_rmse"], label=name)
    axes.set(xscale="log", xlabel="model size on disk (KB)", ylabel="test RMSE", title="Size against accuracy")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=7)
    figure.tight_layout()
    _save(figure, output / "size_rmse.png")
    plt.close("all")


def _save(figure, path: Path) -> None:
    with atomic.file(path) as tmp:
        figure.savefig(tmp, format="png", dpi=120)
