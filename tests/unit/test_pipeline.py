"""Train -> export -> convert -> score on synthetic data, end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from converters.config import ConvertConfig
from converters import tflite
from edge_runtime import EdgeRanker
from tests.conftest import movie_title


def test_metrics_cover_both_models(trained: Path) -> None:
    metrics = json.loads((trained / "metrics.json").read_text())
    assert set(metrics["retrieval"]) >= {"top_1", "top_5", "top_10", "top_50", "top_100", "scann_recall_at_10"}
    # 40 titles: the top 50 and 100 contain every title, so every test rating is a hit.
    assert metrics["retrieval"]["top_50"] == metrics["retrieval"]["top_100"] == 1.0
    assert 0.0 <= metrics["retrieval"]["top_1"] <= metrics["retrieval"]["top_10"] <= 1.0
    # The ratings are learnable: the ranker must beat predicting the test mean.
    with np.load(trained / "data" / "test.npz") as test:
        baseline = float(np.sqrt(np.mean((test["user_rating"] - test["user_rating"].mean()) ** 2)))
    assert metrics["ranking"]["rmse"] < baseline
    assert metrics["data"] == {"ratings": 1000, "train": 800, "test": 200, "users": 30, "titles": 40,
                               "test_rating_mean": pytest.approx(metrics["data"]["test_rating_mean"])}


def test_ranking_signatures_call_and_score_agree(trained: Path) -> None:
    loaded = tf.saved_model.load(str(trained / "ranking"))
    titles = [movie_title(m) for m in (1, 2, 3, 7)]
    pairs = loaded.signatures["serving_default"](
        user_id=tf.constant(["5"] * 4), movie_title=tf.constant(titles))["rating"].numpy()
    one_user = loaded.signatures["score"](user_id=tf.constant(["5"]), movie_title=tf.constant(titles))["rating"].numpy()
    called = loaded({"user_id": tf.constant(["5"] * 4), "movie_title": tf.constant(titles)}).numpy()
    np.testing.assert_allclose(one_user, pairs, atol=1e-6)
    np.testing.assert_allclose(called.reshape(-1), pairs, atol=1e-6)
    assert len(set(pairs.round(6))) > 1


def test_retrieval_index_reloads_in_a_fresh_process(trained: Path) -> None:
    script = (
        "import trainer, sys, json\n"
        "from trainer.retrieval import load_index\n"
        "import tensorflow as tf\n"
        f"index = load_index({str(trained / 'retrieval')!r})\n"
        "scores, titles = index(tf.constant(['3']))\n"
        "print(json.dumps([t.decode() for t in titles.numpy()[0]]))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    titles = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(titles) == 10 and len(set(titles)) == 10
    assert set(titles) <= {movie_title(m) for m in range(1, 41)}


def test_conversion_matches_the_saved_model(trained: Path, converted_model: Path) -> None:
    validation = json.loads((converted_model.parent / "manifest.json").read_text())["validation"]
    assert validation["pairs"] == 200 and validation["max_abs_diff"] <= 1e-4
    ranker = EdgeRanker(converted_model)
    loaded = tf.saved_model.load(str(trained / "ranking"))
    titles = [movie_title(m) for m in range(1, 41)] + ["Not In The Catalogue (2030)"]
    expected = loaded.signatures["serving_default"](
        user_id=tf.constant(["9"] * len(titles)), movie_title=tf.constant(titles))["rating"].numpy()
    np.testing.assert_allclose(ranker.score("9", titles), expected, atol=1e-4)
    ranked = ranker.rank("9", titles, k=5).candidates
    np.testing.assert_allclose([c.score for c in ranked], np.sort(expected)[::-1][:5], atol=1e-4)
    assert [c.movie_title for c in ranked] == [titles[i] for i in np.argsort(-ranker.score("9", titles), kind="stable")[:5]]


def test_conversion_refuses_a_model_that_disagrees(trained: Path, converted_model: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    before = converted_model.read_bytes()
    real = tflite.saved_model_scores
    monkeypatch.setattr(tflite, "saved_model_scores", lambda *args: real(*args) + 1e-3)
    config = ConvertConfig(saved_model=str(trained / "ranking"), output=str(converted_model),
                           validation_data=str(trained / "data" / "test.npz"))
    with pytest.raises(tflite.ConversionError, match=r"differs from the SavedModel by 0.001.* > 0.0001"):
        tflite.convert_ranker(config)
    assert converted_model.read_bytes() == before
    assert sorted(p.name for p in converted_model.parent.iterdir()) == ["manifest.json", "ranker.tflite"]


def test_conversion_names_a_missing_saved_model(tmp_path: Path) -> None:
    with pytest.raises(tflite.ConversionError, match="not a SavedModel"):
        tflite.convert_ranker(ConvertConfig(saved_model=str(tmp_path), output=str(tmp_path / "m.tflite")))


def test_conversion_names_unusable_validation_data(trained: Path, tmp_path: Path) -> None:
    bogus = tmp_path / "test.npz"
    np.savez(bogus, user_id=np.array(["1"]))
    with pytest.raises(tflite.ConversionError, match="user_id and movie_title columns"):
        tflite.convert_ranker(ConvertConfig(saved_model=str(trained / "ranking"), output=str(tmp_path / "m.tflite"),
                                            validation_data=str(bogus)))
    assert not (tmp_path / "m.tflite").exists()
