"""Heavy users: the device model folds in long histories as well as training fits them.

A generated log (``edgerank bench heavy-users``: 300 users, 10,000 titles, histories of 20 to 2,000
ratings, a planted model) goes through what a user runs: ``train`` (the ``best`` preset),
``convert --quantize int8`` of the history model, ``eval --no-folds``. MovieLens 100K has too few heavy
users to show how the fold-in treats them; this log has 27,920 test pairs from users with 200+ ratings.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from tests.integration.conftest import BUILD, edgerank

HEAVY_OUTPUT = BUILD / "heavy-users"
#: How much worse than the id AutoRec the int8 device model may be on the heaviest users.
ID_MODEL_MARGIN = 0.005


@pytest.fixture(scope="module")
def heavy_run() -> dict:
    shutil.rmtree(HEAVY_OUTPUT, ignore_errors=True)
    log, artifacts = HEAVY_OUTPUT / "log", HEAVY_OUTPUT / "artifacts"
    edgerank("bench", "heavy-users", "--output-dir", str(log))
    edgerank("train", "--data", str(log), "--output-dir", str(artifacts))
    edgerank("convert", "--saved-model", str(artifacts / "history"), "--quantize", "int8",
             "--output", str(artifacts / "edge" / "history-int8"), "--validation-data",
             str(artifacts / "data" / "test.npz"), "--history-data", str(artifacts / "data" / "train.npz"))
    edgerank("eval", "--artifacts", str(artifacts), "--output-dir", str(artifacts / "eval"), "--no-folds",
             "--no-new-users", "--data", str(log))
    return {"metrics": json.loads((artifacts / "metrics.json").read_text()),
            "eval": json.loads((artifacts / "eval" / "results.json").read_text()),
            "table": (artifacts / "eval" / "results.md").read_text()}


def test_the_device_model_folds_in_heavy_users_as_well_as_the_id_model(heavy_run: dict) -> None:
    test = heavy_run["eval"]["test"]
    device, id_model = test["edgerank_history_int8_tflite"], test["edgerank_ranker"]
    heavy = device["rmse_by_history"]["200 or more"]
    assert heavy["pairs"] > 20_000
    assert heavy["rmse"] <= id_model["rmse_by_history"]["200 or more"]["rmse"] + ID_MODEL_MARGIN, test
    assert device["rmse"] <= id_model["rmse"] + ID_MODEL_MARGIN
    # The table a person reads names the buckets with their pairs, and every rating model's row.
    assert f"200 or more ({heavy['pairs']:,} pairs)" in heavy_run["table"]
    assert "| edgerank history int8 tflite | " in heavy_run["table"].split("training ratings")[1]


def test_personalize_matches_the_exact_fold_in_on_the_heavy_users(heavy_run: dict) -> None:
    """The exported history model against NumPy's exact solution, on the trained codes, for users with 200+."""
    import tensorflow as tf

    from interactions import split_files
    from trainer import scoring, serving
    from trainer.config import TrainConfig
    from trainer.history import build_tables, exact_fold_in
    from trainer.history_retrieval import RetrievalTables

    artifacts = HEAVY_OUTPUT / "artifacts"
    ranker = tf.saved_model.load(str(serving.resolve(artifacts / "ranking"))).model
    title_rows, user_rows = ranker.title_rows.embeddings.numpy(), ranker.user_rows.embeddings.numpy()
    columns = ("user_id", "movie_title", "user_rating")
    train = split_files.read_split(artifacts / "data" / "train.npz", columns)
    test = split_files.read_split(artifacts / "data" / "test.npz", columns)
    titles = (serving.resolve(artifacts / "ranking") / "assets.extra" / "titles.txt").read_text().splitlines()
    architecture = json.loads((serving.resolve(artifacts / "history") / "assets.extra" / "edgerank.json")
                              .read_text())["architecture"]
    empty = RetrievalTables(np.zeros((len(titles) + 1, 1), np.float32), np.zeros((len(titles) + 1, 1), np.float32),
                            np.zeros(len(titles) + 1, np.float32))
    low, high = architecture["rating_range"]
    trained = TrainConfig.from_dict(json.loads((artifacts / "metrics.json").read_text())["config"])
    tables = build_tables(title_rows, user_rows[0], empty, np.array(titles), (low, high), trained.history,
                          architecture["ridge_per_rating"])
    personalize, score = scoring.saved_history_functions(tf.saved_model.load(str(serving.resolve(
        artifacts / "history"))))
    row_of = {title: row + 1 for row, title in enumerate(titles)}
    solved, exact, truth = [], [], []
    for user, (seen, ratings) in scoring.user_histories(train).items():
        wanted = test["user_id"] == user
        if len(seen) < 200 or not wanted.any():
            continue
        candidates = test["movie_title"][wanted].tolist()
        solved.append(score(personalize(seen, ratings), candidates))
        row = exact_fold_in(tables.title_rows, tables.prior_row, tables.ridge, tables.ridge_per_rating,
                            np.array([row_of[title] for title in seen]), ratings)
        exact.append(np.clip(tables.title_rows[[row_of[title] for title in candidates]] @ row, low, high))
        truth.append(test["user_rating"][wanted])
    solved, exact, truth = (np.concatenate(values) for values in (solved, exact, truth))
    assert len(truth) > 20_000
    assert np.max(np.abs(solved - exact)) < 1e-3  # 8.4e-05 when measured
    rmse = {name: float(np.sqrt(np.mean(np.square(values - truth)))) for name, values in
            (("solved", solved), ("exact", exact))}
    assert abs(rmse["solved"] - rmse["exact"]) < 0.005, rmse


def test_the_ridge_grows_with_the_history_as_the_validation_split_chose(heavy_run: dict) -> None:
    history = heavy_run["metrics"]["history"]
    candidates = {float(value): rmse for value, rmse in history["ridge_per_rating_validation_rmse"].items()}
    assert history["ridge_per_rating"] == min(candidates, key=candidates.get) > 0
    # Training's λ alone (no growth) is what let long histories overfit: clearly worse on validation.
    assert candidates[0.0] > candidates[history["ridge_per_rating"]] + 0.02
    manifest = json.loads((HEAVY_OUTPUT / "artifacts" / "edge" / "history-int8" / "manifest.json").read_text())
    assert manifest["architecture"]["ridge_per_rating"] == history["ridge_per_rating"]
