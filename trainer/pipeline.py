"""``edgerank train``: MovieLens -> ranking and retrieval SavedModels + metrics.

Writes into ``config.output_dir`` (see the README's artifact layout):

* ``ranking/<version>/``: the ranker SavedModel (``serving_default`` and
  ``score``) in the TensorFlow Serving layout, with ``assets.extra/`` (see
  ``trainer.serving``).
* ``retrieval/<version>/``: the ScaNN index SavedModel (load it after
  ``import scann``).
* ``data/train.npz``, ``data/test.npz``: the split's ``user_id``,
  ``movie_title`` and ``user_rating``; conversion calibrates on the first and
  validates on the second, benchmarks draw from the second.
* ``metrics.json``: test metrics of both models, the data's fingerprint.

Each is written to a temporary path and renamed into place.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import sys
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from edge_runtime import atomic
from trainer import data, ranking, retrieval, serving
from trainer.config import TrainConfig

log = logging.getLogger(__name__)

#: Test-split columns handed to the converter and the benchmarks.
HANDOFF_COLUMNS = ("user_id", "movie_title", "user_rating")


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _dataset(columns: data.Columns, names: tuple[str, ...]) -> tf.data.Dataset:
    return tf.data.Dataset.from_tensor_slices({name: columns[name] for name in names})


def train(config: TrainConfig, verbose: int | None = None) -> dict:
    """Trains both models, exports them, and writes ``metrics.json``.

    Args:
        config: Data, split, hyperparameters and output folder.
        verbose: Keras ``fit`` verbosity; ``None`` draws progress bars on a
            terminal and one line per epoch otherwise (logs, CI).

    Returns:
        The metrics written to ``metrics.json``.
    """
    output = Path(config.output_dir)
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    devices = [device.name for device in tf.config.list_logical_devices()]
    log.info("TensorFlow %s on %s", tf.__version__, ", ".join(devices))

    movielens = data.load_movielens(config.data)
    train_split, test_split = data.split_ratings(movielens.ratings, config.split)
    user_ids, movie_titles = movielens.user_ids, movielens.unique_movie_titles
    log.info(
        "MovieLens: %d ratings (%d train, %d test), %d users, %d titles",
        len(movielens.ratings["user_id"]), len(train_split["user_id"]),
        len(test_split["user_id"]), len(user_ids), len(movie_titles),
    )
    for name, split in (("train", train_split), ("test", test_split)):
        data.save_columns(output / "data" / f"{name}.npz", {column: split[column] for column in HANDOFF_COLUMNS})
    train_fingerprint = data.fingerprint({column: train_split[column] for column in HANDOFF_COLUMNS})
    version = config.model_version or max(serving.next_version(output / "ranking"),
                                          serving.next_version(output / "retrieval"))

    started = time.perf_counter()
    log.info("Training the ranker (%d epochs)", config.ranking.epochs)
    features = ("user_id", "movie_title", "user_rating")
    ranker, ranking_metrics = ranking.train_ranking(
        _dataset(train_split, features), _dataset(test_split, features),
        user_ids, movie_titles, config.ranking, config.seed, verbose,
    )
    ranking_metrics["train_seconds"] = round(time.perf_counter() - started, 2)
    log.info("Ranking test RMSE %.4f", ranking_metrics["rmse"])
    with atomic.directory(output / "ranking" / str(version)) as folder:
        ranking.export_ranking(ranker, folder)
        serving.write_extras(folder, {
            "name": "movielens-ranker", "version": version, "created": _now(),
            "data_fingerprint": train_fingerprint, "test_metrics": {"rmse": ranking_metrics["rmse"]},
            "user_vocabulary": len(user_ids), "title_vocabulary": len(movie_titles),
        }, movie_titles.tolist())

    started = time.perf_counter()
    log.info("Training the retrieval towers (%d epochs)", config.retrieval.epochs)
    features = ("user_id", "movie_title")
    towers, retrieval_metrics = retrieval.train_retrieval(
        _dataset(train_split, features), _dataset(test_split, features),
        user_ids, movie_titles, config.retrieval, config.seed, verbose,
    )
    retrieval_metrics["train_seconds"] = round(time.perf_counter() - started, 2)
    log.info("Retrieval test top-10 %.4f, top-100 %.4f",
             retrieval_metrics["top_10"], retrieval_metrics["top_100"])

    scann_index = retrieval.build_index(towers, movie_titles, config.retrieval, "scann")
    exact_index = retrieval.build_index(towers, movie_titles, config.retrieval, "brute_force")
    retrieval_metrics[f"scann_recall_at_{config.retrieval.index_k}"] = retrieval.recall_against_exact(
        scann_index, exact_index, user_ids
    )
    with atomic.directory(output / "retrieval" / str(version)) as folder:
        retrieval.export_index(scann_index, folder)

    metrics = {
        "ranking": ranking_metrics,
        "retrieval": retrieval_metrics,
        "data": {
            "ratings": int(len(movielens.ratings["user_id"])),
            "train": int(len(train_split["user_id"])),
            "test": int(len(test_split["user_id"])),
            "users": int(len(user_ids)),
            "titles": int(len(movie_titles)),
            "test_rating_mean": float(np.mean(test_split["user_rating"])),
            "train_fingerprint": train_fingerprint,
        },
        "model_version": version,
        "config": dataclasses.asdict(config),
        "tensorflow": tf.__version__,
        "devices": devices,
    }
    atomic.write_json(output / "metrics.json", metrics)
    return metrics
