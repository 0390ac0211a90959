"""``edgerank train``: an interaction log -> ranking, retrieval and history SavedModels + metrics.

Writes into ``config.output_dir`` (see the README's artifact layout):

* ``ranking/<version>/``: the ranker SavedModel (``serving_default`` and
  ``score``) in the TensorFlow Serving layout, with ``assets.extra/`` (see
  ``trainer.serving``).
* ``history/<version>/``: the history-based device model (``trainer.history``:
  ``personalize``, ``score`` and ``recommend`` from the user's own ratings),
  when the ranker is AutoRec.
* ``retrieval/<version>/``: the retrieval serving model (query model and
  ScaNN index, ``trainer.retrieval_serving``), with every user's query and
  every title's candidate embedding. ``config.retrieval.model`` picks the
  queries: each user's training titles pooled by the history retrieval
  (``history``), or the two towers' user embeddings (``two_tower``).
* ``data/train.npz``, ``data/test.npz``: the split files
  (``interactions.split_files``); conversion calibrates on the first and validates on
  the second, benchmarks draw from the second.
* ``metrics.json``: test metrics of both models, the data's fingerprint, each
  stage's wall time (``trainer.progress.StageClock``).

Each is written to a temporary path and renamed into place. On a cluster of
several workers (``trainer.distribution``) only the chief writes.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from scipy import sparse

from edge_runtime import atomic
from interactions import split_files
from trainer import (autorec, baselines, data, distribution, history, history_retrieval, preferences, ranking,
                     retrieval, retrieval_serving, scann_index, serving, towers)
from trainer.config import RANKING_MODELS, RETRIEVAL_MODELS, ConfigError, RankingConfig, TrainConfig
from trainer.progress import StageClock

log = logging.getLogger(__name__)

#: The cut-off of the implicit-feedback figures: recall@k and NDCG@k.
RANKING_K = 20
#: Most users whose ScaNN results are compared with exact search (``scann_recall_at_<k>``).
RECALL_USERS = 10_000


def _retrieval_serving(query_model: tf.keras.Model, rated: sparse.csr_matrix, embeddings: dict[str, np.ndarray],
                       config: TrainConfig) -> tuple[retrieval_serving.RetrievalServing, dict]:
    """The serving model over every title, and how its index compares with exact search.

    ScaNN where it is installed, exact search otherwise. ScaNN's recall@k
    against exact search is measured over every user, or over ``RECALL_USERS``
    drawn with the seed (for all 162,541 of MovieLens 25M's, exact search took
    45 s). ``embeddings`` are every user's query and every title's candidate
    embedding (what ``retrieval_serving.export`` saves); ``query_model`` maps a
    user id to the former; ``rated`` is [users, titles], each user's training
    titles (what ``exclude_rated`` leaves out).
    """
    user_ids, movie_titles = embeddings["user_ids"], embeddings["titles"]
    settings = None
    if retrieval_serving.scann_ops() is None:
        log.warning("ScaNN is not available: the retrieval model serves exact search")
    else:
        settings = scann_index.derive_settings(
            len(movie_titles), k=config.retrieval.index_k, num_leaves=config.retrieval.scann_leaves,
            num_leaves_to_search=config.retrieval.scann_leaves_to_search,
            dimensions_per_block=config.retrieval.scann_dims_per_block, reorder=config.retrieval.scann_reorder)
    model = retrieval_serving.RetrievalServing(query_model, movie_titles, embeddings["title_embeddings"], rated,
                                               config.retrieval.index_k, settings)
    metrics: dict = {"index": {"kind": model.index_kind, **(dataclasses.asdict(settings) if settings else {})}}
    if settings is not None:
        users = np.arange(len(user_ids))
        if len(users) > RECALL_USERS:
            users = np.sort(np.random.default_rng(config.seed).choice(len(users), RECALL_USERS, replace=False))
        served = model.serving_default(tf.constant(user_ids[users]))["titles"].numpy().astype(bytes)
        exact = scann_index.exact_top_k(embeddings["user_embeddings"][users], embeddings["title_embeddings"],
                                        config.retrieval.index_k)
        metrics[f"scann_recall_at_{config.retrieval.index_k}"] = scann_index.recall(
            np.char.decode(served, "utf-8"), movie_titles[exact])
        metrics["scann_recall_users"] = len(users)
    return model, metrics


def _history_queries(tables: history_retrieval.RetrievalTables, rows: sparse.csr_matrix, user_ids: np.ndarray,
                     movie_titles: np.ndarray) -> tuple[tf.keras.Model, dict[str, np.ndarray]]:
    """The history retrieval as the server's query model: user id -> the user's training titles pooled.

    ``rows`` are every user's training ratings, [users, titles + 1] (``history_retrieval.rating_rows``).

    Returns:
        The query model (unknown ids get the empty history's query: the
        biases alone) and the embeddings ``retrieval_serving.export`` saves.
    """
    queries = tables.queries(rows)
    embeddings = {"user_ids": user_ids, "user_embeddings": queries, "titles": movie_titles,
                  "title_embeddings": tables.candidates()}
    unknown = tables.queries(sparse.csr_matrix((1, rows.shape[1]), dtype=np.float32))  # row 0: unknown users
    return towers.string_embedding(user_ids, queries.shape[1], table=np.concatenate([unknown, queries])), embeddings


def train_ranker(train: data.Columns, test: data.Columns, user_ids: np.ndarray, movie_titles: np.ndarray,
                 config: RankingConfig, seed: int, verbose: int = 1,
                 strategy: tf.distribute.Strategy | None = None) -> tuple[tf.keras.Model, dict[str, float]]:
    """Trains the ranker ``config.model`` names and evaluates it on ``test``.

    Args:
        train, test: Rating columns ``user_id``, ``movie_title``, ``user_rating``.
        user_ids, movie_titles: Vocabularies.
        config: The architecture and its hyperparameters.
        seed, verbose, strategy: As ``ranking.train_ranking``.

    Returns:
        A float32 model with the ranker contract (``call`` on pairs, ``score``
        for one user; ``ranking.export_ranking`` saves it) and its test metrics.

    Raises:
        ConfigError: ``config.model`` is not in ``RANKING_MODELS``.
    """
    if config.model == "autorec":
        return autorec.train_autorec(train, test, user_ids, movie_titles, config, seed, verbose, strategy)
    if config.model != "tutorial":
        raise ConfigError(f"unknown ranking model {config.model!r}: choose one of {', '.join(RANKING_MODELS)}")
    features = ("user_id", "movie_title", "user_rating")
    model, metrics = ranking.train_ranking(_dataset(train, features), _dataset(test, features), user_ids,
                                           movie_titles, config, seed, verbose, strategy)
    if tf.keras.mixed_precision.global_policy().compute_dtype != "float32":
        model = ranking.float32_copy(model, user_ids, movie_titles, config)
    return model, metrics


def _dataset(columns: data.Columns, names: tuple[str, ...]) -> tf.data.Dataset:
    return tf.data.Dataset.from_tensor_slices({name: columns[name] for name in names})


def _export_history(ranker: autorec.AutoRecRanker, tables: history_retrieval.RetrievalTables, figures: dict,
                    histories: data.Columns, test_split: data.Columns, movie_titles: np.ndarray,
                    config: TrainConfig, folder: Path, extras: dict, names: list[str] | None) -> dict:
    """Builds the history model on AutoRec's tables and the history retrieval's, evaluates and exports it.

    ``histories`` are what the device folds in for the test users: their training interactions.

    Returns:
        ``figures`` (the retrieval's test figures) with the warm users' test ``rmse``, the fold-in's
        ``ridge_per_rating`` and each candidate's validation RMSE (``ridge_per_rating_validation_rmse``).
    """
    ridge_per_rating, candidates = history.choose_ridge_per_rating(
        ranker.held_out_fit, movie_titles, ranker.rating_range, config.history, config.seed)
    log.info("History fold-in: λ grows by %g per history rating (validation RMSE by candidate: %s)",
             ridge_per_rating, candidates)
    model = history.HistoryModel(history.build_tables(
        ranker.title_rows.embeddings.numpy(), ranker.user_rows.embeddings.numpy()[0], tables, movie_titles,
        ranker.rating_range, config.history, ridge_per_rating))
    metrics = {**figures, "rmse": history.warm_rmse(model, histories, test_split, config.history.test_users,
                                                       config.seed),
               "ridge_per_rating": ridge_per_rating, "ridge_per_rating_validation_rmse": candidates}
    _write_history(model, "movielens-history", metrics, folder, extras, movie_titles, names)
    return metrics


def _export_preferences(tables: history_retrieval.RetrievalTables, figures: dict, histories: data.Columns,
                        test_split: data.Columns, movie_titles: np.ndarray, config: TrainConfig, folder: Path,
                        extras: dict, names: list[str] | None) -> dict:
    """Builds the implicit-feedback history model (``trainer.preferences``), evaluates and exports it.

    Returns:
        ``figures`` with the test ``recall_at_20`` and ``ndcg_at_20`` over each user's unseen items, their
        ``histories`` (training interactions) folded in.
    """
    model = preferences.PreferenceModel(preferences.build_tables(tables, movie_titles, config.history))
    metrics = {**figures, **preferences.test_figures(model, histories, test_split, RANKING_K)}
    _write_history(model, "edgerank-preferences", metrics, folder, extras, movie_titles, names)
    return metrics


def _write_history(model: history.HistoryModel, name: str, metrics: dict, folder: Path, extras: dict,
                   movie_titles: np.ndarray, names: list[str] | None) -> None:
    """Exports a history model (either kind) with its ``assets.extra`` into ``folder``, atomically."""
    with atomic.directory(folder) as written:
        history.export_history(model, written)
        serving.write_extras(written, {
            "name": name, "version": int(folder.name), **extras, "test_metrics": dict(metrics),
            "title_vocabulary": len(movie_titles), "architecture": model.tables.architecture(),
        }, movie_titles.tolist(), names)


def train(config: TrainConfig, verbose: int | None = None) -> dict:
    """Trains both models, exports them, and writes ``metrics.json``.

    Args:
        config: Data, split, hyperparameters and output folder.
        verbose: Keras ``fit`` verbosity; ``None`` draws progress bars on a
            terminal and one line per epoch otherwise (logs, CI).

    Returns:
        The metrics written to ``metrics.json`` (by the chief alone, on a cluster of several workers).

    Raises:
        DistributionError: A worker of a cluster died, stopped answering or never joined.
    """
    if config.retrieval.model not in RETRIEVAL_MODELS:
        raise ConfigError(f"unknown retrieval model {config.retrieval.model!r}: choose one of "
                          f"{', '.join(RETRIEVAL_MODELS)}")
    if config.retrieval.model == "history" and not config.history.enabled:
        raise ConfigError("the history retrieval model is trained with the history model: drop --no-history-enabled "
                          "or choose --retrieval-model two_tower")
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    cluster_errors = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.AbortedError)
    try:
        strategy = distribution.select_strategy(config.distribution, config.worker_timeout)  # before any other op
        if distribution.is_chief(strategy):
            return _train(config, strategy, Path(config.output_dir), verbose)
        # Another worker of a cluster: it computes what the chief does, and its copies of the files are dropped.
        with tempfile.TemporaryDirectory(prefix="edgerank-worker-") as scratch:
            return _train(config, strategy, Path(scratch), verbose)
    except cluster_errors as error:  # a worker died or stopped answering
        raise distribution.cluster_failure(error, config.worker_timeout) from error


def _train(config: TrainConfig, strategy: tf.distribute.Strategy, output: Path, verbose: int) -> dict:
    """``train``'s work under ``strategy``, its files written into ``output``."""
    devices = [device.name for device in tf.config.list_logical_devices()]
    if config.mixed_precision:
        tf.keras.mixed_precision.set_global_policy("mixed_float16")

    clock = StageClock()
    clock.begin("read")
    interactions = data.load_log(config.log)
    schema = interactions.schema
    clock.begin("split")
    train_split, test_split, new_user_histories = data.split_log(interactions, config.split)
    users_split = bool(len(new_user_histories["user_id"]))  # the test users are new ones, not trained on
    # The vocabularies: every user the models train on, every item of the catalogue.
    user_ids, movie_titles = np.unique(train_split["user_id"]), interactions.titles
    names = [interactions.names.get(title, "") for title in movie_titles.tolist()] if interactions.names else None
    del interactions  # the splits hold every row now (25M rows: 1.4 GB each way)
    log.info("%s: %d interactions (%d train, %d test, split %s), %d users, %d items, %s feedback; TensorFlow %s on "
             "%s, %s", schema.source, schema.interactions, len(train_split["user_id"]), len(test_split["user_id"]),
             config.split.method, len(user_ids), len(movie_titles), schema.feedback, tf.__version__,
             ", ".join(devices), distribution.describe(strategy))
    for name, split in (("train", train_split), ("test", test_split), ("new_users", new_user_histories)):
        if len(split["user_id"]) or name != "new_users":
            split_files.write_split(output / "data" / f"{name}.npz", split)
    train_fingerprint = data.fingerprint({column: train_split[column] for column in split_files.SPLIT_COLUMNS})
    version = config.model_version or max(serving.next_version(output / name)
                                          for name in ("ranking", "retrieval", "history"))

    started = time.perf_counter()
    extras = {"data_fingerprint": train_fingerprint, "schema": dataclasses.asdict(schema)}
    ranker, ranking_metrics = None, None
    if schema.implicit:
        log.info("Implicit feedback: no rating model; the history model scores each item by preference")
    else:
        clock.begin("ranker")
        log.info("Training the ranker (%s)", config.ranking.model)
        ranker, ranking_metrics = train_ranker(train_split, test_split, user_ids, movie_titles, config.ranking,
                                               config.seed, verbose, strategy)
        ranking_metrics["train_seconds"] = round(time.perf_counter() - started, 2)
        log.info("Ranking test RMSE %.4f", ranking_metrics["rmse"])
        with atomic.directory(output / "ranking" / str(version)) as folder:
            ranking.export_ranking(ranker, folder)
            serving.write_extras(folder, {
                "name": "movielens-ranker", "version": version, **extras,
                "test_metrics": {"rmse": ranking_metrics["rmse"]},
                "user_vocabulary": len(user_ids), "title_vocabulary": len(movie_titles),
                "architecture": ranker.architecture(),
            }, movie_titles.tolist(), names)

    tables, history_metrics, rows = None, None, None
    has_history_model = config.history.enabled and (schema.implicit or isinstance(ranker, autorec.AutoRecRanker))
    if has_history_model or config.retrieval.model == "history":
        clock.begin("history retrieval")
        started = time.perf_counter()
        log.info("Training the history retrieval (each user's own items pooled)")
        # Each user's training titles, built once (20M cells at MovieLens 25M's size): the history retrieval trains
        # on them, its queries pool them, the server retrieval leaves them out.
        rows = history_retrieval.rating_rows(train_split, baselines.Index(user_ids, movie_titles))
        tables, history_figures = history_retrieval.train_history_retrieval(
            train_split, None if users_split else test_split, user_ids, movie_titles, config.history, config.seed,
            verbose, schema.implicit, strategy, histories=rows)
        history_figures["train_seconds"] = round(time.perf_counter() - started, 2)
        if users_split:  # their histories folded in with everyone's
            everyone = baselines.Index(np.unique(np.concatenate([user_ids, new_user_histories["user_id"]])),
                                       movie_titles)
            everyone_rows = history_retrieval.rating_rows(
                {name: np.concatenate([train_split[name], new_user_histories[name]])
                 for name in split_files.SPLIT_COLUMNS}, everyone)
            history_figures.update(history_retrieval.retrieval_figures(tables, everyone_rows, test_split, everyone))
        log.info("History retrieval test top-100 %.4f, unseen top-10 %.4f",
                 history_figures["top_100"], history_figures["unseen_top_10"])
    if has_history_model:
        clock.begin("history model")
        folder = output / "history" / str(version)
        # The histories the device folds in: the training interactions, and the new users' (users split; else no
        # copy: at 20M ratings one took 1.2 GB, held to the end).
        histories = train_split if not users_split else {
            name: np.concatenate([train_split[name], new_user_histories[name]]) for name in train_split}
        if schema.implicit:
            history_metrics = _export_preferences(tables, history_figures, histories, test_split, movie_titles,
                                                  config, folder, extras, names)
            log.info("History model: test recall@%d %.4f, NDCG@%d %.4f", RANKING_K,
                     history_metrics[f"recall_at_{RANKING_K}"], RANKING_K, history_metrics[f"ndcg_at_{RANKING_K}"])
        else:
            history_metrics = _export_history(ranker, tables, history_figures, histories, test_split,
                                              movie_titles, config, folder, extras, names)
            log.info("History model, warm users: test RMSE %.4f", history_metrics["rmse"])

    clock.begin("server retrieval")
    if rows is None:  # no history retrieval was trained
        rows = history_retrieval.rating_rows(train_split, baselines.Index(user_ids, movie_titles))
    if config.retrieval.model == "history":
        retrieval_metrics = dict(history_figures)
        query_model, embeddings = _history_queries(tables, rows, user_ids, movie_titles)
    else:
        started = time.perf_counter()
        log.info("Training the retrieval towers (%d epochs)", config.retrieval.epochs)
        two_towers, retrieval_metrics = retrieval.train_retrieval(
            train_split, test_split, user_ids, movie_titles, config.retrieval, config.seed, verbose, strategy)
        retrieval_metrics["train_seconds"] = round(time.perf_counter() - started, 2)
        log.info("Retrieval test top-10 %.4f, top-100 %.4f",
                 retrieval_metrics["top_10"], retrieval_metrics["top_100"])
        query_model = two_towers.user_model
        embeddings = {"user_ids": user_ids, "user_embeddings": retrieval.embed(two_towers.user_model, user_ids),
                      "titles": movie_titles, "title_embeddings": retrieval.embed(two_towers.movie_model, movie_titles)}
    serving_model, index_metrics = _retrieval_serving(query_model, rows[:, 1:], embeddings, config)
    retrieval_metrics.update(index_metrics)
    with atomic.directory(output / "retrieval" / str(version)) as folder:
        retrieval_serving.export(serving_model, folder, embeddings)
        serving.write_extras(folder, {
            "name": "movielens-retrieval", "version": version, **extras, "test_metrics": retrieval_metrics,
            "model": config.retrieval.model, "index": index_metrics["index"], "k": config.retrieval.index_k,
        }, movie_titles.tolist(), names)
    clock.end()

    metrics = {
        **({"ranking": ranking_metrics} if ranking_metrics else {}),
        "retrieval": retrieval_metrics,
        **({"history": history_metrics} if history_metrics else {}),
        "data": {
            "schema": dataclasses.asdict(schema),
            "schema_summary": schema.summary(),
            "split": config.split.method,
            "ratings": schema.interactions,
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
        "distribution": distribution.describe(strategy),
        "stages": clock.stages,
    }
    atomic.write_json(output / "metrics.json", metrics)
    return metrics
