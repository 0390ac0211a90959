"""``edgerank eval``: baselines, metrics under both protocols, the validation split, the canonical folds."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.unit.conftest import SYNTHETIC_SPLIT
from interactions import metrics, movielens
from trainer import baselines, data
from trainer.config import EvalConfig, TrainConfig
from trainer.evaluation import GRIDS, EvaluationError, run_eval


def _columns(users, titles, ratings) -> dict[str, np.ndarray]:
    return {"user_id": np.array(users), "movie_title": np.array(titles), "user_rating": np.array(ratings, np.float32)}


def test_top_k_accuracy_under_both_protocols() -> None:
    scores = np.array([[5.0, 4.0, 3.0, 2.0], [1.0, 2.0, 3.0, 4.0]])
    rows, columns = np.array([0, 0, 1]), np.array([2, 3, 0])
    every = metrics.top_k_accuracy(scores, rows, columns, ks=(1, 3))
    assert every == {"top_1": 0.0, "top_3": pytest.approx(1 / 3)}  # ranks 2, 3 and 3
    # User 0 rated titles 0 and 1 in training: title 2 becomes their first, title 3 their second.
    unseen = metrics.top_k_accuracy(scores, rows, columns, [np.array([0, 1]), np.array([], int)], ks=(1, 3))
    assert unseen == {"top_1": pytest.approx(1 / 3), "top_3": pytest.approx(2 / 3)}
    ties = metrics.top_k_accuracy(np.ones((1, 4)), np.array([0]), np.array([0]), ks=(1, 4))
    assert ties == {"top_1": 0.0, "top_4": 1.0}  # a tie counts against the test title
    assert metrics.rmse(np.array([1.0, 3.0]), np.array([2.0, 2.0])) == 1.0


def test_baselines_recover_what_they_model() -> None:
    index = baselines.Index(np.array(["a", "b"]), np.array(["x", "y", "z"]))
    # Ratings = 3 + user bias (a: +1, b: -1) + item bias (x: +0.5, y: -0.5, z: 0).
    truth = {("a", "x"): 4.5, ("a", "y"): 3.5, ("a", "z"): 4.0, ("b", "x"): 2.5, ("b", "y"): 1.5, ("b", "z"): 2.0}
    train = _columns(*zip(*[(u, t, r) for (u, t), r in truth.items()]))
    assert baselines.GlobalMean(index).fit(train).predict(np.array(["a"]), np.array(["x"]))[0] == 3.0
    unregularised = baselines.Biases(index, user_reg=0.0, item_reg=0.0, iterations=50).fit(train)
    np.testing.assert_allclose(unregularised.predict(train["user_id"], train["movie_title"]), train["user_rating"],
                               atol=1e-6)
    mf = baselines.BiasedMF(index, factors=2, reg=0.01).fit(train)
    np.testing.assert_allclose(mf.predict(train["user_id"], train["movie_title"]), train["user_rating"], atol=0.05)
    assert mf.predict(np.array(["stranger"]), np.array(["x"]))[0] == pytest.approx(mf.mean + mf.item_bias[0])
    popular = baselines.Popularity(index).fit(_columns(["a", "b", "b"], ["y", "y", "z"], [1, 1, 1]))
    np.testing.assert_array_equal(popular.scores(np.array(["a"])), [[0.0, 2.0, 1.0]])


def test_implicit_als_ranks_co_rated_titles_first() -> None:
    users, titles = [f"u{i}" for i in range(20)], ["p", "q", "r", "s"]
    # Two tastes: even users rate p and q, odd users r and s; u0 has rated only p.
    pairs = [(u, t) for i, u in enumerate(users[1:], 1) for t in (("p", "q") if i % 2 == 0 else ("r", "s"))]
    pairs.append(("u0", "p"))
    train = _columns(*zip(*[(u, t, 1.0) for u, t in pairs]))
    model = baselines.ImplicitALS(baselines.Index(np.array(sorted(users)), np.array(titles)), factors=2, reg=0.1)
    scores = model.fit(train).scores(np.array(["u0"]))[0]
    assert scores[1] > scores[2] and scores[1] > scores[3]  # q, like p, before r and s


def test_validation_split_is_carved_from_training_only() -> None:
    train = _columns([str(i) for i in range(100)], ["t"] * 100, np.arange(100))
    fit, validation = data.validation_split(train, 0.1, seed=1)
    assert len(validation["user_id"]) == 10 and len(fit["user_id"]) == 90
    assert not set(fit["user_id"]) & set(validation["user_id"])
    assert data.validation_split(train, 0.1, seed=1)[1]["user_id"].tolist() == validation["user_id"].tolist()


def test_canonical_folds_are_read_from_the_archive(synthetic_archive: Path) -> None:
    folds = movielens.read_canonical_folds(synthetic_archive)
    assert len(folds) == 5 and all(len(train["user_id"]) == 800 and len(test["user_id"]) == 200 for train, test in folds)
    assert set(folds[0][1]["movie_title"]) <= {f"Synthetic Movie {m} (19{50 + m})" for m in range(1, 41)} | {
        "Misérables, Les (1995)"}


def test_the_train_config_round_trips_through_metrics_json(trained: Path) -> None:
    saved = json.loads((trained / "metrics.json").read_text())["config"]
    config = TrainConfig.from_dict(saved)
    assert config.ranking.hidden_units == (32, 16) and config.retrieval.embedding_dim == 8
    assert config.split == SYNTHETIC_SPLIT and json.loads(json.dumps(dataclasses.asdict(config))) == saved
    # A file from another version: unknown keys are ignored, missing ones keep their defaults.
    older = TrainConfig.from_dict({"seed": 7, "ranking": {"epochs": 2, "retired_field": 1}})
    assert older.seed == 7 and older.ranking.epochs == 2 and older.retrieval == TrainConfig().retrieval


def test_eval_reports_every_model_on_the_same_split(trained: Path, bundles: dict, synthetic_archive: Path,
                                                    tmp_path: Path) -> None:
    report = run_eval(EvalConfig(data=str(synthetic_archive), artifacts=str(trained), output_dir=str(tmp_path),
                                 split=SYNTHETIC_SPLIT))
    test = report["test"]
    assert set(test) == {"global_mean", "biases", "biased_mf", "popularity", "implicit_als", "edgerank_ranker",
                         "edgerank_ranker_int8_tflite", "edgerank_retrieval"}
    trained_metrics = json.loads((trained / "metrics.json").read_text())
    assert test["edgerank_ranker"]["rmse"] == pytest.approx(trained_metrics["ranking"]["rmse"], abs=1e-4)
    int8 = json.loads((bundles["int8"] / "manifest.json").read_text())["metrics"]["test_rmse"]
    assert test["edgerank_ranker_int8_tflite"]["rmse"] == pytest.approx(int8, abs=1e-4)
    # The int8 model keeps the SavedModel's order, as its manifest says the converter measured.
    manifest = json.loads((bundles["int8"] / "manifest.json").read_text())["metrics"]
    for key in ("top_10_overlap", "pair_agreement", "distinct_scores"):
        assert test["edgerank_ranker_int8_tflite"][key] == pytest.approx(manifest[key], abs=1e-3), key
    assert all(0 < test[name]["ndcg_at_10"] <= 1 for name in ("biases", "biased_mf", "edgerank_ranker"))
    assert all(0 < test[name]["rmse"] < 4 for name in ("global_mean", "biases", "biased_mf"))
    for name in ("popularity", "implicit_als", "edgerank_retrieval"):
        figures = test[name]
        assert figures["all_top_1"] <= figures["all_top_10"] <= figures["all_top_100"] == 1.0  # 40 titles
        assert figures["unseen_top_10"] >= figures["all_top_10"], name  # removing rated titles only helps
    assert report["chosen"]["biases"] in GRIDS["biases"] and report["chosen"]["implicit_als"] in GRIDS["implicit_als"]
    assert set(report["folds"]) == set(test) - {"edgerank_ranker_int8_tflite"}
    assert all(len(runs) == 5 for runs in report["per_fold"].values())
    mean, spread = report["folds"]["biases"]["rmse"]
    assert 0 < mean < 2 and spread >= 0
    # Every rating model's RMSE by the users' training ratings: these 30 users have fewer than 50 each, so all
    # their test pairs are in the first bucket, whose RMSE is the overall one.
    rating_models = {name for name, figures in test.items() if "rmse" in figures}
    assert rating_models == {"global_mean", "biases", "biased_mf", "edgerank_ranker", "edgerank_ranker_int8_tflite"}
    for name in rating_models:
        assert test[name]["rmse_by_history"] == {"under 50": {"rmse": pytest.approx(test[name]["rmse"], abs=1e-9),
                                                              "pairs": 200}}, name
    table = (tmp_path / "results.md").read_text()
    main, by_history = table.split("\n\nTest RMSE by the user's number of training ratings\n\n")
    assert main.count("\n| ") == len(test) and "u1–u5 RMSE" in main and "pairs in order" in main
    assert by_history.startswith("| model | under 50 (200 pairs) | 50-199 (0 pairs) | 200 or more (0 pairs) |")
    assert by_history.count("\n| ") == len(rating_models)

    # Without the baselines: EdgeRank's models alone, with the same figures.
    alone = run_eval(EvalConfig(data=str(synthetic_archive), artifacts=str(trained), output_dir=str(tmp_path / "alone"),
                                split=SYNTHETIC_SPLIT, baselines=False, folds=False))
    assert alone["test"] == {name: test[name] for name in alone["test"]} and alone["chosen"] == {}
    assert set(alone["test"]) == {"edgerank_ranker", "edgerank_ranker_int8_tflite", "edgerank_retrieval"}


def test_eval_refuses_models_trained_on_other_data(trained: Path, synthetic_archive: Path, tmp_path: Path) -> None:
    other = tmp_path / "artifacts"
    shutil.copytree(trained, other, ignore=shutil.ignore_patterns("edge"))
    metrics_file = other / "metrics.json"
    saved = json.loads(metrics_file.read_text())
    saved["data"]["train_fingerprint"] = "0" * 64
    metrics_file.write_text(json.dumps(saved))
    with pytest.raises(EvaluationError, match="trained on other ratings"):
        run_eval(EvalConfig(data=str(synthetic_archive), artifacts=str(other), output_dir=str(tmp_path / "eval"),
                            split=SYNTHETIC_SPLIT, folds=False))
