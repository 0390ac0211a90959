"""How the history model grows with the catalogue: size and on-device latency at a generated scale.

The history model holds one row per title and nothing per user, so its size
and its calls' cost depend on the catalogue alone. This builds one with
random tables for ``titles`` generated titles (MovieLens 25M has 59,047), the
shapes of the MovieLens model (AutoRec's 500-unit code, 64-d retrieval),
converts it to int8 with the converter's own steps, and times it in the edge
client as ``edgerank bench-edge`` times a trained one. The numbers are random,
so only size and time are measured, not quality.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.config import EdgeBenchConfig, HistoryScaleConfig
from benchmarks.edge_latency import history_benchmark
from edge_runtime import EdgeRanker, atomic

log = logging.getLogger(__name__)


def run_history_scale(config: HistoryScaleConfig) -> dict:
    """Builds, converts and times the generated model; writes ``config.output``."""
    from converters.config import ConvertConfig
    from converters.tflite import convert
    from trainer.history import HistoryModel, HistoryTables, export_history

    rng = np.random.default_rng(config.seed)
    titles = np.array([f"Generated Title {n} ({1900 + n % 120})" for n in range(config.titles)])
    rows = config.titles + 1
    codes = rng.uniform(-0.5, 0.5, (rows, config.hidden_units + 1)).astype(np.float32)
    codes[:, -1] = 1.0
    ridge = np.full(config.hidden_units + 1, 100.0, np.float32)
    ridge[-1] = 1.0
    tables = HistoryTables(titles, codes, rng.normal(0, 0.05, config.hidden_units + 1).astype(np.float32), ridge, 1.0,
                           rng.normal(0, 0.1, (rows, config.embedding_dim)).astype(np.float32),
                           rng.normal(0, 0.1, (rows, config.embedding_dim)).astype(np.float32),
                           rng.normal(0, 0.1, rows).astype(np.float32), (1.0, 5.0), 16, 300)
    with tempfile.TemporaryDirectory(prefix="edgerank-scale-") as folder:
        export_history(HistoryModel(tables), Path(folder, "saved_model"))
        model, model_ops = convert(Path(folder, "saved_model"), ConvertConfig(quantize=config.quantize),
                                   ["personalize", "score", "recommend"])
        path = Path(folder, "model.tflite")
        path.write_bytes(model)
        ranker = EdgeRanker(path, verify=False, backend=config.backend or None)
        timings = history_benchmark(ranker, EdgeBenchConfig(model=str(path), backend=config.backend, cold_starts=0,
                                                            repeats=config.repeats, seed=config.seed),
                                    catalogue=titles.tolist())
    report = {"titles": config.titles, "quantize": config.quantize, "size_bytes": len(model),
              "min_runtime_version": model_ops.min_runtime_version, **timings}
    log.info("%d generated titles, %s: %.1f MB; personalize p50 %.0f us, score %.1f us, recommend top %d %.0f us",
             config.titles, config.quantize, len(model) / 2**20, timings["personalize"]["p50_us"],
             timings["score"]["p50_us"], timings["request"]["recommend_k"], timings["recommend"]["p50_us"])
    atomic.write_json(config.output, report)
    return report
