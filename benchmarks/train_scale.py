"""``edgerank bench train-scale``: the ``best`` preset trained on a MovieLens-25M-shaped log, stage by stage.

For each scale (1: MovieLens 25M's 162,541 users, 59,047 items, 25,000,095
ratings) it runs what a user runs, each a child process so that its memory is
its own:

1. ``generate``: ``benchmarks.planted_log`` writes the log (Parquet) and its planted truth;
2. ``edgerank train`` on it, with the log's columns named by flags; its
   stages (read, split, ranker, history retrieval, history model, server
   retrieval) come from its ``metrics.json``, their peak memory from the
   child's resident set sampled every ``SAMPLE_SECONDS``;
3. ``edgerank convert`` to the int8 history bundle;
4. ``edgerank eval``: the bundle on the device (recall@20, NDCG@20, RMSE)
   beside popularity, ``implicit``'s ALS and EASE, on the training's split.

The planted model's own figures on the same split (``planted_figures``) are
the ceiling: its RMSE is the noise floor, its recall@20 ranks each user's
unseen items by how they were drawn. Per stage the report has wall time,
peak RSS and ratings per second; ``results.json`` and ``train_scale.png``
(time and peak memory against scale) go into ``output_dir``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from benchmarks import planted_log
from benchmarks.config import TrainScaleConfig
from benchmarks.measure import BenchError
from edge_runtime import atomic
from edge_runtime.contract import MODEL_FILE
from interactions import holdout, metrics, split_files
from trainer.config import EvalConfig

log = logging.getLogger(__name__)

#: How often a child's resident set is read (seconds).
SAMPLE_SECONDS = 0.25
#: The cut-off of recall and NDCG (``edgerank eval``'s).
K = 20


class MemoryWatch:
    """Samples a child process's resident set (Linux ``/proc``) until it exits: ``(Unix time, bytes)`` pairs."""

    def __init__(self, pid: int) -> None:
        self.samples: list[tuple[float, int]] = []
        self._pid = pid
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        status = Path(f"/proc/{self._pid}/status")
        while True:
            try:
                text = status.read_text()
            except OSError:
                return
            for line in text.splitlines():
                if line.startswith("VmRSS:"):
                    self.samples.append((time.time(), int(line.split()[1]) * 1024))
            time.sleep(SAMPLE_SECONDS)

    def peak(self, start: float = 0.0, end: float = float("inf")) -> int:
        """The largest sample taken between ``start`` and ``end`` (Unix times); 0 if none."""
        return max((rss for when, rss in self.samples if start <= when <= end), default=0)

    def stop(self) -> None:
        self._thread.join(timeout=5)


def run_child(command: list[str], log_path: Path) -> tuple[float, int, MemoryWatch]:
    """Runs ``command`` with its output in ``log_path``: ``(seconds, peak RSS bytes, its MemoryWatch)``.

    Raises:
        BenchError: The command failed; the message names it and ends with its log's last lines.
    """
    started = time.perf_counter()
    with open(log_path, "w") as output:
        child = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        watch = MemoryWatch(child.pid)
        _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    watch.stop()
    seconds = time.perf_counter() - started
    if child.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
        raise BenchError(f"{' '.join(command[2:4])} failed (exit {child.returncode}); {log_path}:\n{tail}")
    return seconds, usage.ru_maxrss * 1024, watch  # ru_maxrss is in KiB on Linux


def planted_figures(truth: planted_log.PlantedTruth, train: dict, test: dict) -> dict[str, float]:
    """The planted model's test figures on a split: RMSE (the noise floor) and recall/NDCG@K over unseen items.

    Ids are the generator's (``user_id`` u is row u - 1, ``item_id`` i is row i - 1).
    """
    def rows(column: np.ndarray) -> np.ndarray:
        return column.astype(np.int64) - 1

    train_users, train_items = rows(train["user_id"]), rows(train["movie_title"])
    test_users, test_items = rows(test["user_id"]), rows(test["movie_title"])
    users = int(max(train_users.max(), test_users.max())) + 1
    seen = np.split(train_items[np.argsort(train_users, kind="stable")],
                    np.cumsum(np.bincount(train_users, minlength=users))[:-1])
    held = np.split(test_items[np.argsort(test_users, kind="stable")],
                    np.cumsum(np.bincount(test_users, minlength=users))[:-1])
    figures = metrics.recall_and_ndcg(truth.exposure_scores, seen, held, K)
    figures["rmse"] = metrics.rmse(truth.ratings(test_users, test_items), test["user_rating"])
    return figures


def run_scale(scale: float, config: TrainScaleConfig) -> dict:
    """Generates, trains, converts and evaluates at one scale; returns its part of the report."""
    folder = Path(config.output_dir) / f"scale-{scale:g}"
    folder.mkdir(parents=True, exist_ok=True)
    data, artifacts = folder / "log", folder / "artifacts"
    python = [sys.executable, "-m"]
    stages: list[dict] = []

    started = time.perf_counter()
    shape = planted_log.write_planted_log(data, scale, config.rank, config.noise, config.exposure,
                                          config.taste_weight, config.seed)
    stages.append({"stage": "generate", "seconds": round(time.perf_counter() - started, 3)})
    ratings = shape["ratings"]
    log.info("scale %g: %d users, %d items, %d ratings generated in %.0f s", scale, shape["users"], shape["items"],
             ratings, stages[-1]["seconds"])

    train_command = python + ["edgerank", "train", "--data", str(data / "ratings.parquet"), "--user-column",
                              "user_id", "--item-column", "item_id", "--rating-column", "rating", "--time-column",
                              "timestamp", "--output-dir", str(artifacts), "--seed", str(config.seed)]
    seconds, peak, watch = run_child(train_command, folder / "train.log")
    trained = _read_json(artifacts / "metrics.json")
    for stage in trained["stages"]:
        stage_peak = watch.peak(stage["started"], stage["started"] + stage["seconds"])
        stages.append({"stage": stage["stage"], "seconds": stage["seconds"],
                       "peak_rss_mb": round(stage_peak / 2**20, 1) if stage_peak else None})
    stages.append({"stage": "train (whole process)", "seconds": round(seconds, 2),
                   "peak_rss_mb": round(peak / 2**20, 1)})

    for name, command in (
            ("convert", python + ["edgerank", "convert", "--saved-model", str(artifacts / "history"), "--quantize",
                                  "int8", "--output", str(artifacts / "edge" / "history-int8"), "--validation-data",
                                  str(artifacts / "data" / "test.npz"), "--history-data",
                                  str(artifacts / "data" / "train.npz")]),
            ("eval", python + ["edgerank", "eval", "--artifacts", str(artifacts), "--output-dir",
                               str(artifacts / "eval"), "--seed", str(config.seed)])):
        seconds, peak, _ = run_child(command, folder / f"{name}.log")
        stages.append({"stage": name, "seconds": round(seconds, 2), "peak_rss_mb": round(peak / 2**20, 1)})
    for stage in stages:
        stage["ratings_per_second"] = round(ratings / stage["seconds"]) if stage["seconds"] else None

    evaluated = _read_json(artifacts / "eval" / "results.json")["test"]
    train, test = (split_files.read_split(artifacts / "data" / f"{name}.npz") for name in ("train", "test"))
    test = holdout.sample_users(test, EvalConfig().max_users, config.seed)  # the users edgerank eval scored
    planted = planted_figures(planted_log.PlantedTruth.load(data / "planted.npz"), train, test)
    device = evaluated["history model, int8 on the device"]
    quality = {
        "planted": planted, "models": evaluated,
        "history_recall_share_of_planted": device[f"recall_at_{K}"] / planted[f"recall_at_{K}"],
        "history_rmse_over_noise_floor": device["rmse"] / planted["rmse"],
        "savedmodel": {"ranker_rmse": trained["ranking"]["rmse"], "history_rmse": trained["history"]["rmse"]},
    }
    bundle = artifacts / "edge" / "history-int8" / MODEL_FILE
    return {"scale": scale, "log": shape, "stages": stages, "quality": quality,
            "bundle_bytes": bundle.stat().st_size,
            "train_and_convert_seconds": round(sum(stage["seconds"] for stage in stages
                                                   if stage["stage"] in ("train (whole process)", "convert")), 1),
            "peak_rss_mb": max(stage.get("peak_rss_mb") or 0 for stage in stages)}


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def run_train_scale(config: TrainScaleConfig) -> dict:
    """Runs every scale of ``config.scale``; writes ``results.json`` and ``train_scale.png``; returns the report."""
    if not config.scale or any(scale <= 0 for scale in config.scale):
        raise BenchError(f"--scale must be positive numbers, got {list(config.scale)}")
    report = {"scales": [run_scale(scale, config) for scale in sorted(config.scale)],
              "machine": machine_summary(), "config": dataclasses.asdict(config)}
    output = Path(config.output_dir)
    atomic.write_json(output / "results.json", report)
    plot(report, output / "train_scale.png")
    return report


def machine_summary() -> dict:
    return {"cpus": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version()}


def plot(report: dict, path: Path) -> None:
    """Wall time and peak RSS of each stage against scale, log-log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scales = [entry["scale"] for entry in report["scales"]]
    names = [stage["stage"] for stage in report["scales"][0]["stages"]]
    figure, (time_axis, memory_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name in names:
        seconds = [next(s["seconds"] for s in entry["stages"] if s["stage"] == name) for entry in report["scales"]]
        time_axis.plot(scales, seconds, marker="o", label=name)
        peaks = [next(s.get("peak_rss_mb") for s in entry["stages"] if s["stage"] == name)
                 for entry in report["scales"]]
        if all(peak for peak in peaks):
            memory_axis.plot(scales, [peak / 1024 for peak in peaks], marker="o", label=name)
    for axis, label in ((time_axis, "wall time (s)"), (memory_axis, "peak RSS (GiB)")):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("scale (1 = MovieLens 25M's shape)")
        axis.set_ylabel(label)
        axis.grid(True, which="both", alpha=0.3)
    time_axis.legend(fontsize=7)
    figure.suptitle("edgerank bench train-scale: the best preset on a planted log")
    figure.tight_layout()
    with atomic.file(path) as written:
        figure.savefig(written, format="png", dpi=110)
    plt.close(figure)
