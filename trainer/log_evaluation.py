"""``edgerank eval`` on any log other than MovieLens: the device's bundle against trusted baselines.

MovieLens keeps its own, larger evaluation (``trainer.evaluation``). For any
other log this reads the split files ``edgerank train`` wrote
(``data/train.npz``, ``data/test.npz`` and, for the users split,
``data/new_users.npz``), so the split is exactly the training's, and
compares on each user's unseen items (``interactions.metrics``):

* the int8 history bundle (``edge/history-int8``) on the edge runtime, each
  test user's training items (with their weights or ratings) as the history:
  with weights the whole catalogue scored through ``score`` (preferences),
  with ratings ranked by ``retrieve`` (the retrieval score, what recall is
  about; ``score`` predicts how a user would rate an item, not whether they
  pick it): what a device computes;
* popularity, ``implicit``'s ALS and EASE (``trainer.implicit_baselines``),
  each choosing its hyperparameters on a validation split carved out of the
  training interactions (by recall@k), then refitted on all of them; on
  ratings they see who rated what (a rating is no amount).

Reported: recall@20 and NDCG@20; with explicit ratings also the test RMSE of
the bundle and of the training mean. Past ``EvalConfig.max_users`` test users
every model is scored on a seeded sample of that many (its validation split
likewise), and past ``implicit_baselines.EASE_MAX_ITEMS`` items EASE is
skipped, the reason reported. For the users split the new users'
histories join every baseline's training matrix (the device sees them too);
their test items never do.

Writes ``results.json`` and ``results.md`` into ``output_dir``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime import atomic
from interactions.schema import Columns
from interactions import holdout, metrics, split_files
from trainer import baselines, data, implicit_baselines, scoring
from trainer.config import EvalConfig

log = logging.getLogger(__name__)

#: The cut-off of recall and NDCG.
K = 20
#: The bundle evaluated.
BUNDLE = Path("edge") / "history-int8"


def run_log_eval(config: EvalConfig, trained: dict[str, Any]) -> dict[str, Any]:
    """Evaluates the artifacts of a log other than MovieLens; writes and returns the report.

    Args:
        config: The artifacts, output folder, validation share, seed, and whether to fit the baselines.
        trained: The artifacts' ``metrics.json``.
    """
    from edge_runtime import EdgeRanker

    artifacts = Path(config.artifacts)
    schema = trained["data"]["schema"]
    train, test = (split_files.read_split(artifacts / "data" / f"{name}.npz") for name in ("train", "test"))
    new_users = artifacts / "data" / "new_users.npz"
    if new_users.is_file():
        histories = split_files.read_split(new_users)
        train = {name: np.concatenate([train[name], histories[name]]) for name in split_files.SPLIT_COLUMNS}
    test = holdout.sample_users(test, config.max_users, config.seed)
    device = EdgeRanker(artifacts / BUNDLE)
    titles = np.asarray(device.titles(), dtype=object)
    users = np.unique(np.concatenate([train["user_id"], test["user_id"]]))
    index = baselines.Index(users, np.sort(titles))
    results: dict[str, dict[str, Any]] = {}
    chosen: dict[str, dict] = {}
    if config.baselines:
        fit_part, validation = data.validation_split(train, config.validation_fraction, config.seed)
        validation = holdout.sample_users(validation, config.max_users, config.seed)
        implicit = schema["feedback"] == "implicit"
        for name in implicit_baselines.MODELS:
            if name == "EASE" and len(titles) > implicit_baselines.EASE_MAX_ITEMS:
                results[name] = {"skipped": f"{len(titles):,} items, past EASE's {implicit_baselines.EASE_MAX_ITEMS:,}"
                                            " (its item × item inverse is dense)"}
                log.warning("EASE skipped: %s", results[name]["skipped"])
                continue
            chosen[name] = implicit_baselines.choose(
                name, lambda model: _baseline_figures(model, fit_part, validation, index, implicit)[f"recall_at_{K}"],
                config.seed)
            model = implicit_baselines.MODELS[name](**chosen[name], seed=config.seed)
            results[name] = _baseline_figures(model, train, test, index, implicit)
            log.info("%s %s: recall@%d %.4f, NDCG@%d %.4f", name, chosen[name], K, results[name][f"recall_at_{K}"],
                     K, results[name][f"ndcg_at_{K}"])
    results["history model, int8 on the device"] = _device_figures(device, train, test, index, schema)
    report = {"split": trained["config"]["split"], "schema": schema, "k": K, "chosen": chosen, "test": results,
              "validation_fraction": config.validation_fraction}
    output = Path(config.output_dir)
    atomic.write_json(output / "results.json", report)
    atomic.write_bytes(output / "results.md", markdown_table(report).encode())
    return report


def _baseline_figures(model: Any, train: Columns, test: Columns, index: baselines.Index,
                      implicit: bool) -> dict[str, float]:
    """A baseline fitted on ``train`` (weights, or who rated what: a rating is no amount), scored on ``test``."""
    rows, columns, weights = index.cells(train)
    if not implicit:
        weights = np.ones_like(weights)
    matrix = implicit_baselines.weight_matrix(rows, columns, weights, (len(index.users), len(index.titles)))
    model.fit(matrix)
    return _figures(model.scores, matrix, test, index)


def _figures(score_block: Any, seen_matrix: Any, test: Columns, index: baselines.Index) -> dict[str, float]:
    seen = [seen_matrix.indices[seen_matrix.indptr[row]:seen_matrix.indptr[row + 1]]
            for row in range(seen_matrix.shape[0])]
    rows, columns = index.rows(test["user_id"]), index.columns(test["movie_title"])
    known = (rows >= 0) & (columns >= 0)
    held = baselines.group_positions(rows[known], len(index.users))
    held = [columns[known][positions] for positions in held]
    return metrics.recall_and_ndcg(score_block, seen, held, K)


def _device_figures(device: Any, train: Columns, test: Columns, index: baselines.Index,
                    schema: dict) -> dict[str, Any]:
    """The bundle's figures: each user's training interactions personalize it, ``score`` rates every item."""
    from tqdm import tqdm

    rows, columns, weights = index.cells(train)
    matrix = implicit_baselines.weight_matrix(rows, columns, weights, (len(index.users), len(index.titles)))
    catalogue = index.titles.tolist()
    users = index.users.tolist()
    # Each test user's (items, values), as the device cleans them.
    histories = scoring.user_histories(train, test["user_id"])
    bar = tqdm(total=len(set(test["user_id"].tolist())), desc="scoring the catalogue on the device", unit="user",
               file=sys.stderr, disable=None, leave=False)
    states: dict[int, Any] = {}
    explicit = schema["feedback"] == "explicit"

    def score_block(block: np.ndarray) -> np.ndarray:
        scores = np.full((len(block), len(catalogue)), -np.inf, np.float32)
        for position, row in enumerate(block.tolist()):
            titles, values = histories.get(users[row], ([], []))
            states[row] = device.personalize(list(zip(titles, values)))
            if explicit:  # the retrieval's order: its best K first (a descending stand-in score), the rest last
                retrieved = index.columns(np.asarray(device.retrieve(states[row], K), dtype=object))
                scores[position, retrieved] = np.arange(len(retrieved), 0, -1)
            else:
                scores[position] = device.score(states[row], catalogue)
            bar.update(1)
        return scores

    figures = _figures(score_block, matrix, test, index)
    bar.close()
    if explicit:  # every test user's state was kept above
        test_rows = index.rows(test["user_id"])
        predicted = np.empty(len(test_rows), np.float32)
        for row, positions in enumerate(baselines.group_positions(test_rows, len(index.users))):
            if len(positions):
                predicted[positions] = device.score(states[row], test["movie_title"][positions].tolist())
        figures["rmse"] = metrics.rmse(predicted, test["user_rating"])
        figures["training_mean_rmse"] = metrics.rmse(np.full(len(predicted), train["user_rating"].mean()),
                                                     test["user_rating"])
    return {**figures, "backend": f"{device.backend.name} {device.backend.version}"}


def markdown_table(report: dict[str, Any]) -> str:
    """The report as a Markdown table: one row per model."""
    k = report["k"]
    lines = [f"| model | recall@{k} | NDCG@{k} | test RMSE |", "|---|---|---|---|"]
    for name, figures in report["test"].items():
        if "skipped" in figures:
            lines.append(f"| {name} | skipped: {figures['skipped']} | | |")
            continue
        rmse = f"{figures['rmse']:.4f} (training mean {figures['training_mean_rmse']:.4f})" if "rmse" in figures else ""
        lines.append(f"| {name} | {figures[f'recall_at_{k}']:.4f} | {figures[f'ndcg_at_{k}']:.4f} | {rmse} |")
    return "\n".join(lines) + "\n"
