"""``edgerank eval``: the EdgeRank models next to classic baselines, on the same splits, in one table.

What it measures, so that nothing can flatter the models:

* The tutorials' seed-42 split, the one ``edgerank train`` used: the run
  refuses artifacts whose training data fingerprint differs.
* Baselines (``trainer.baselines``) choose their hyperparameters on a
  validation split carved out of the training ratings, never on the test split,
  then are refitted on all training ratings and scored on the test split
  (``baselines=False`` scores EdgeRank's models alone).
* Retrieval under both protocols of ``interactions.metrics``: every title a
  candidate, and titles rated in training excluded.
* EdgeRank's ranker as the SavedModel scores it and as the int8 ``.tflite``
  scores it on the edge runtime (the number a device sees), with the order
  the int8 model keeps against the SavedModel's over ``order_users`` users'
  whole catalogue (``trainer.scoring.compare``); NDCG@10 of each user's test
  titles for every rating model; EdgeRank's server retrieval from its
  exported query and candidate embeddings.
* Every rating model's test RMSE by the user's number of training ratings
  (``metrics.HISTORY_BUCKETS``: under 50, 50–199, 200 or more), where a
  fold-in that handles long histories worse than training would show.
* The five canonical ``u1``–``u5`` splits shipped with the archive: every
  model, EdgeRank's retrained on each fold with the same configuration (the
  history model's retrieval too, as its float tables, when the artifacts have
  one); mean and standard deviation.

Writes ``results.json`` and ``results.md`` into ``output_dir``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime import atomic
from edge_runtime.errors import EdgeRankError
from interactions import metrics, movielens, split_files
from trainer import baselines, data, new_users, scoring, serving
from trainer.config import EvalConfig, TrainConfig

log = logging.getLogger(__name__)

#: Hyperparameters each baseline chooses from on the validation split.
GRIDS: dict[str, list[dict[str, float]]] = {
    "biases": [{"user_reg": u, "item_reg": i} for u in (5.0, 10.0, 25.0) for i in (10.0, 25.0)],
    "biased_mf": [{"factors": f, "reg": r} for f in (10, 30) for r in (5.0, 10.0, 20.0)],
    "implicit_als": [{"factors": 16, "alpha": a, "reg": r} for a in (5.0, 10.0, 20.0) for r in (0.1, 10.0)],
}
RATING_MODELS = {"global_mean": baselines.GlobalMean, "biases": baselines.Biases, "biased_mf": baselines.BiasedMF}
RETRIEVAL_MODELS = {"popularity": baselines.Popularity, "implicit_als": baselines.ImplicitALS}


class EvaluationError(EdgeRankError):
    """The artifacts were not trained on the split being evaluated, or are missing."""


@dataclass
class _Split:
    """Ratings for one evaluation, indexed for the baselines."""

    train: data.Columns
    test: data.Columns
    index: baselines.Index

    def test_cells(self) -> tuple[np.ndarray, np.ndarray]:
        return self.index.rows(self.test["user_id"]), self.index.columns(self.test["movie_title"])

    @functools.cached_property
    def test_history_lengths(self) -> np.ndarray:
        """Each test pair's user's number of training ratings."""
        counts = np.bincount(self.index.rows(self.train["user_id"]), minlength=len(self.index.users))
        return counts[self.index.rows(self.test["user_id"])]

    def seen(self) -> list[np.ndarray]:
        rows, columns = self.index.rows(self.train["user_id"]), self.index.columns(self.train["movie_title"])
        return [columns[positions] for positions in baselines.group_positions(rows, len(self.index.users))]


def _retrieval_figures(scores: np.ndarray, split: _Split) -> dict[str, float]:
    rows, columns = split.test_cells()
    every = metrics.top_k_accuracy(scores, rows, columns)
    unseen = metrics.top_k_accuracy(scores, rows, columns, split.seen())
    return {**{f"all_{k}": v for k, v in every.items()}, **{f"unseen_{k}": v for k, v in unseen.items()}}


def _select(name: str, validation_split: _Split) -> dict[str, float]:
    """The grid point with the best validation RMSE (rating models) or top-100 (retrieval models)."""
    best, best_value = {}, None
    for params in GRIDS.get(name, [{}]):
        if name in RATING_MODELS:
            model = RATING_MODELS[name](validation_split.index, **params).fit(validation_split.train)
            value = -metrics.rmse(model.predict(validation_split.test["user_id"], validation_split.test["movie_title"]),
                                  validation_split.test["user_rating"])
        else:
            model = RETRIEVAL_MODELS[name](validation_split.index, **params).fit(validation_split.train)
            value = _retrieval_figures(model.scores(validation_split.index.users), validation_split)["all_top_100"]
        if best_value is None or value > best_value:
            best, best_value = params, value
    return best


def _baselines(split: _Split, chosen: dict[str, dict]) -> dict[str, dict[str, float]]:
    results = {}
    for name, model_class in RATING_MODELS.items():
        model = model_class(split.index, **chosen[name]).fit(split.train)
        results[name] = _rating_figures(model.predict(split.test["user_id"], split.test["movie_title"]), split)
    for name, model_class in RETRIEVAL_MODELS.items():
        model = model_class(split.index, **chosen[name]).fit(split.train)
        results[name] = _retrieval_figures(model.scores(split.index.users), split)
    return results


def _rating_figures(predicted: np.ndarray, split: _Split) -> dict[str, Any]:
    test = split.test
    return {"rmse": metrics.rmse(predicted, test["user_rating"]),
            "ndcg_at_10": metrics.ndcg_at_k(predicted, test["user_rating"], test["user_id"]),
            "rmse_by_history": metrics.rmse_by_history_length(predicted, test["user_rating"],
                                                               split.test_history_lengths)}


def _edgerank_models(split: _Split, artifacts: Path, config: EvalConfig) -> dict[str, dict[str, float]]:
    """EdgeRank's trained models on the split's test ratings (see the module docstring)."""
    from edge_runtime import EdgeRanker
    from trainer.retrieval_serving import read_embeddings

    reference = scoring.reference_scores(scoring.saved_model_scorer(serving.resolve(artifacts / "ranking")),
                                         split.test, split.index.titles, config.order_users, config.seed)
    results = {"edgerank_ranker": _rating_figures(reference.pair_scores, split)}
    int8 = artifacts / "edge" / "int8"
    if int8.is_dir():
        device = EdgeRanker(int8)
        predicted = scoring.score_pairs(device.score, split.test["user_id"], split.test["movie_title"])
        figures = scoring.compare(device.score, reference, predicted)
        results["edgerank_ranker_int8_tflite"] = {
            **_rating_figures(predicted, split),
            **{key: figures[key] for key in metrics.ORDER_FIGURES}, "backend": f"{device.backend.name} {device.backend.version}"}
    history_bundle = artifacts / "edge" / "history-int8"
    if history_bundle.is_dir():
        results.update(_history_model(EdgeRanker(history_bundle), split))
    embeddings = read_embeddings(artifacts / "retrieval")
    users = dict(zip(embeddings["user_ids"].tolist(), embeddings["user_embeddings"]))
    titles = dict(zip(embeddings["titles"].tolist(), embeddings["title_embeddings"]))
    user_matrix = np.stack([users[u] for u in split.index.users])
    title_matrix = np.stack([titles[t] for t in split.index.titles])
    results["edgerank_retrieval"] = _retrieval_figures(user_matrix @ title_matrix.T, split)
    return results


def _history_model(device: Any, split: _Split) -> dict[str, dict[str, float]]:
    """The int8 history bundle on the device, each user's training ratings as their history (warm users)."""
    histories = scoring.user_histories(split.train)
    scorer = scoring.edge_scorer(device, histories)
    predicted = scoring.score_pairs(scorer, split.test["user_id"], split.test["movie_title"])
    positions = {title: column for column, title in enumerate(split.index.titles.tolist())}
    # The device returns its best recommend_k (300) titles: rank them, the rest rank below (ties count against).
    protocols = {}
    for exclude_rated in (False, True):
        scores = np.full((len(split.index.users), len(split.index.titles)), -np.inf)
        for row, user in enumerate(split.index.users.tolist()):
            titles, ratings = histories.get(user, ([], np.empty(0, np.float32)))
            ranked = device.retrieve(list(zip(titles, ratings.tolist())), len(positions), exclude_rated)
            scores[row, [positions[title] for title in ranked]] = -np.arange(len(ranked), dtype=np.float64)
        protocols["unseen" if exclude_rated else "all"] = _retrieval_figures(scores, split)
    retrieval = {key: value for protocol, figures in protocols.items() for key, value in figures.items()
                 if key.startswith(protocol)}
    backend = f"{device.backend.name} {device.backend.version}"
    return {"edgerank_history_int8_tflite": {**_rating_figures(predicted, split), "backend": backend},
            "edgerank_history_retrieval_int8_tflite": {**retrieval, "backend": backend}}


def _edgerank_on_fold(split: _Split, config: TrainConfig, history: bool) -> dict[str, dict[str, float]]:
    """EdgeRank's models retrained on a fold with ``config`` and scored on its test ratings: the ranker, the
    server's retrieval (``config.retrieval.model``) and, with ``history``, the history model's retrieval (its
    float tables; one training serves both where the server's retrieval is the history one)."""
    import tensorflow as tf

    from trainer import history_retrieval, retrieval
    from trainer.pipeline import train_ranker

    model, _ = train_ranker(split.train, split.test, split.index.users, split.index.titles, config.ranking,
                            config.seed, verbose=0)
    predicted = model({"user_id": tf.constant(split.test["user_id"]),
                       "movie_title": tf.constant(split.test["movie_title"])}).numpy().reshape(-1)
    results = {"edgerank_ranker": _rating_figures(predicted, split)}
    if history or config.retrieval.model == "history":
        tables, _ = history_retrieval.train_history_retrieval(  # its own figures: the test's below
            split.train, None, split.index.users, split.index.titles, config.history, config.seed, verbose=0)
        figures = _retrieval_figures(tables.scores(history_retrieval.rating_rows(split.train, split.index)), split)
        if history:
            results["edgerank_history_retrieval"] = figures
        if config.retrieval.model == "history":
            results["edgerank_retrieval"] = figures
    if config.retrieval.model != "history":
        towers, _ = retrieval.train_retrieval(split.train, split.test, split.index.users, split.index.titles,
                                              config.retrieval, config.seed, verbose=0)
        scores = retrieval.embed(towers.user_model, split.index.users) @ retrieval.embed(
            towers.movie_model, split.index.titles).T
        results["edgerank_retrieval"] = _retrieval_figures(scores, split)
    return results


def run_eval(config: EvalConfig) -> dict[str, Any]:
    """Runs the evaluation; writes and returns the report.

    Raises:
        EvaluationError: Missing artifacts, or artifacts trained on other data.
    """
    artifacts = Path(config.artifacts)
    try:
        trained = json.loads((artifacts / "metrics.json").read_text())
    except (OSError, ValueError) as error:
        raise EvaluationError(f"cannot read {artifacts / 'metrics.json'} ({error}); run `edgerank train` first") \
            from error
    schema = trained["data"].get("schema")
    if schema and not schema["format"].startswith("movielens"):
        from trainer.log_evaluation import run_log_eval

        return run_log_eval(config, trained)
    archive = data.resolve_path(config.data)
    loaded = data.load_movielens(archive, config.skip_bad_rows)
    train, test = data.split_ratings(loaded.ratings, config.split)
    train, test = ({c: split[c] for c in split_files.SPLIT_COLUMNS} for split in (train, test))
    if data.fingerprint(train) != trained["data"]["train_fingerprint"]:
        raise EvaluationError(f"{artifacts} was trained on other ratings than this split (the training data "
                              "fingerprints differ); train and evaluate on the same data and split")
    index = baselines.Index(loaded.user_ids, loaded.unique_movie_titles)
    chosen = {}
    if config.baselines:
        fit_part, validation = data.validation_split(train, config.validation_fraction, config.seed)
        chosen = {name: _select(name, _Split(fit_part, validation, index))
                  for name in [*RATING_MODELS, *RETRIEVAL_MODELS]}
        log.debug("Chosen on the validation split: %s", chosen)

    split = _Split(train, test, index)
    results = {**(_baselines(split, chosen) if config.baselines else {}), **_edgerank_models(split, artifacts, config)}
    has_history = "history" in trained
    if has_history:  # the float tables the history bundle was converted from, as trained on this split
        results["edgerank_history_retrieval"] = {
            f"{protocol}_top_{k}": trained["history"][f"{prefix}top_{k}"] for k in metrics.TOP_KS
            for protocol, prefix in (("all", ""), ("unseen", "unseen_"))}
    folds: dict[str, list[dict]] = {}
    train_config = TrainConfig.from_dict(trained["config"])
    if config.folds:
        if not archive:
            raise EvaluationError("the u1–u5 folds are read from the GroupLens archive: give --data (or --no-folds)")
        from tqdm import tqdm

        canonical = movielens.read_canonical_folds(Path(archive))
        for fold_train, fold_test in tqdm(canonical, desc="u1–u5 folds (retraining EdgeRank's models)",
                                          unit="fold", file=sys.stderr, disable=None):
            fold = _Split(fold_train, fold_test, index)
            baseline_figures = _baselines(fold, chosen) if config.baselines else {}
            for name, figures in {**baseline_figures, **_edgerank_on_fold(fold, train_config, has_history)}.items():
                folds.setdefault(name, []).append(figures)
    report = {"split": dataclasses.asdict(config.split), "validation_fraction": config.validation_fraction,
              "chosen": chosen, "test": results, "folds": _summarize(folds), "per_fold": folds}
    output = Path(config.output_dir)
    if config.new_users and "history" in trained:
        report["new_users"] = new_users.new_user_curve(loaded.ratings, loaded.user_ids,
                                                       loaded.unique_movie_titles, train_config)
        new_users.plot_curve(report["new_users"], output / "new_users.png")
    atomic.write_json(output / "results.json", report)
    atomic.write_bytes(output / "results.md", markdown_table(report).encode())
    return report


def _summarize(folds: dict[str, list[dict]]) -> dict[str, dict[str, list[float]]]:
    """Per model and figure: [mean, standard deviation] over the folds."""
    return {name: {key: [float(np.mean([f[key] for f in runs])), float(np.std([f[key] for f in runs]))]
                   for key in runs[0] if isinstance(runs[0][key], float)}
            for name, runs in folds.items()}


def markdown_table(report: dict) -> str:
    """The report as Markdown: MovieLens's tables, or those of ``trainer.log_evaluation`` for other logs."""
    if "schema" in report:  # a log other than MovieLens (trainer.log_evaluation)
        from trainer.log_evaluation import markdown_table as log_table

        return log_table(report)
    return _movielens_table(report)


def _movielens_table(report: dict) -> str:
    """One row per model: test RMSE, NDCG@10, the order kept against the SavedModel,
    top-k under both protocols, the five folds' mean ± sd; then each rating model's test RMSE by the
    user's number of training ratings, and the new users' curve."""
    ks = [f"top_{k}" for k in metrics.TOP_KS]
    head = (["model", "test RMSE", "NDCG@10", "top-10 overlap", "pairs in order"] + [f"{k} all" for k in ks]
            + [f"{k} unseen" for k in ks] + ["u1–u5 RMSE", "u1–u5 top_100 all", "u1–u5 top_10 unseen"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    tables = [lines]

    def cell(figures: dict, key: str, digits: int = 4) -> str:
        return f"{figures[key]:.{digits}f}" if key in figures else ""

    def spread(name: str, key: str) -> str:
        value = report["folds"].get(name, {}).get(key)
        return f"{value[0]:.4f} ± {value[1]:.4f}" if value else ""

    for name, figures in report["test"].items():
        row = [name.replace("_", " "), cell(figures, "rmse"), cell(figures, "ndcg_at_10"),
               cell(figures, "top_10_overlap"), cell(figures, "pair_agreement")]
        row += [cell(figures, f"all_{k}") for k in ks] + [cell(figures, f"unseen_{k}") for k in ks]
        row += [spread(name, "rmse"), spread(name, "all_top_100"), spread(name, "unseen_top_10")]
        lines.append("| " + " | ".join(row) + " |")
    by_history = {name: figures["rmse_by_history"] for name, figures in report["test"].items()
                  if figures.get("rmse_by_history")}
    if by_history:
        buckets = [name for name, _, _ in metrics.HISTORY_BUCKETS]
        pairs = {bucket: next((f[bucket]["pairs"] for f in by_history.values() if bucket in f), 0)
                 for bucket in buckets}
        rows = ["", "Test RMSE by the user's number of training ratings", "",
                "| model | " + " | ".join(f"{bucket} ({pairs[bucket]:,} pairs)" for bucket in buckets) + " |",
                "|" + "---|" * (len(buckets) + 1)]
        for name, figures in by_history.items():
            rows.append(f"| {name.replace('_', ' ')} | "
                        + " | ".join(cell(figures[b], "rmse") if b in figures else "" for b in buckets) + " |")
        tables.append(rows)
    curve = report.get("new_users")
    if curve:
        sizes = curve["history_sizes"]
        rows = ["", f"New users ({curve['held_out_users']} held out of training): RMSE on their other ratings, "
                "given their first h ratings", "", "| model | " + " | ".join(f"h={h}" for h in sizes) + " |",
                "|" + "---|" * (len(sizes) + 1),
                "| users | " + " | ".join(str(curve["users"][str(h)]) for h in sizes) + " |"]
        for name, values in curve["rmse"].items():
            rows.append(f"| {name.replace('_', ' ')} | " + " | ".join(f"{values[str(h)]:.4f}" for h in sizes) + " |")
        tables.append(rows)
    return "\n".join("\n".join(table) for table in tables) + "\n"
