"""Train -> export -> convert -> score on synthetic data, end to end."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import assert_matches_schema
import tensorflow as tf

from converters import compatibility, tflite
from edge_runtime import EdgeRanker
from tests.conftest import movie_title
from tests.unit.conftest import convert_config
from trainer import data, retrieval_serving, scoring, serving


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
                               "test_rating_mean": pytest.approx(metrics["data"]["test_rating_mean"]),
                               "train_fingerprint": metrics["data"]["train_fingerprint"], "split": "random",
                               "schema": metrics["data"]["schema"], "schema_summary": metrics["data"]["schema_summary"]}
    # What was read, as every later stage sees it (the bundle's manifest too).
    schema = metrics["data"]["schema"]
    assert (schema["format"], schema["feedback"], schema["value_range"], schema["interactions"]) == (
        "movielens-100k", "explicit", [1.0, 5.0], 1000)
    assert serving.read_info(trained / "ranking" / "1")["schema"] == schema
    assert len(metrics["data"]["train_fingerprint"]) == 64 and metrics["model_version"] == 1


def test_models_are_exported_in_the_tensorflow_serving_layout(trained: Path) -> None:
    assert serving.versions(trained / "ranking") == serving.versions(trained / "retrieval") == [1]
    info = serving.read_info(trained / "ranking" / "1")
    metrics = json.loads((trained / "metrics.json").read_text())
    assert info["data_fingerprint"] == metrics["data"]["train_fingerprint"]
    assert info["test_metrics"]["rmse"] == metrics["ranking"]["rmse"] and info["version"] == 1
    titles = (trained / "ranking" / "1" / "assets.extra" / "titles.txt").read_text(encoding="utf-8").splitlines()
    assert sorted(titles) == sorted(movie_title(m) for m in range(1, 41))


def test_serving_versions_resolve_to_the_highest(tmp_path: Path) -> None:
    for version in ("1", "2", "10", "notes"):
        (tmp_path / version).mkdir()
        if version.isdigit():
            (tmp_path / version / "saved_model.pb").write_bytes(b"")
    (tmp_path / "11").mkdir()  # no SavedModel inside: not a version
    assert serving.versions(tmp_path) == [1, 2, 10] and serving.next_version(tmp_path) == 11
    assert serving.resolve(tmp_path) == tmp_path / "10" and serving.resolve(tmp_path / "2") == tmp_path / "2"
    with pytest.raises(serving.ServingLayoutError, match="neither a SavedModel nor"):
        serving.resolve(tmp_path / "notes")


def test_data_fingerprint_changes_with_any_rating() -> None:
    columns = {"user_id": np.array(["1", "2"]), "movie_title": np.array(["a", "b"]), "user_rating": np.array([3.0, 4.0])}
    same = {name: values.copy() for name, values in columns.items()}
    changed = {**columns, "user_rating": np.array([3.0, 5.0])}
    swapped = {name: values[::-1] for name, values in columns.items()}
    assert data.fingerprint(columns) == data.fingerprint(same)
    assert len({data.fingerprint(columns), data.fingerprint(changed), data.fingerprint(swapped)}) == 3


def test_ranking_signatures_call_and_score_agree(trained: Path) -> None:
    loaded = tf.saved_model.load(str(serving.resolve(trained / "ranking")))
    titles = [movie_title(m) for m in (1, 2, 3, 7)]
    pairs = loaded.signatures["serving_default"](
        user_id=tf.constant(["5"] * 4), movie_title=tf.constant(titles))["rating"].numpy()
    one_user = loaded.signatures["score"](user_id=tf.constant(["5"]), movie_title=tf.constant(titles))["rating"].numpy()
    called = loaded({"user_id": tf.constant(["5"] * 4), "movie_title": tf.constant(titles)}).numpy()
    np.testing.assert_allclose(one_user, pairs, atol=1e-6)
    np.testing.assert_allclose(called.reshape(-1), pairs, atol=1e-6)
    assert len(set(pairs.round(6))) > 1


def test_retrieval_model_reloads_in_a_fresh_process(trained: Path) -> None:
    script = (
        "import trainer, sys, json\n"
        "import tensorflow as tf\n"
        "from trainer.retrieval_serving import load\n"
        f"model = load({str(trained / 'retrieval' / '1')!r})\n"
        "top = model.signatures['serving_default'](user_id=tf.constant(['3']))\n"
        "print(json.dumps([t.decode() for t in top['titles'].numpy()[0]]))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    titles = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(titles) == 10 and len(set(titles)) == 10
    assert set(titles) <= {movie_title(m) for m in range(1, 41)}


def test_retrieval_signatures_exclude_what_the_user_rated(trained: Path) -> None:
    model = retrieval_serving.load(trained / "retrieval" / "1")
    users = ["3", "17", "nobody"]
    with np.load(trained / "data" / "train.npz") as train:
        rated = {u: set(train["movie_title"][train["user_id"] == u].tolist()) for u in users}
    every = model.signatures["serving_default"](user_id=tf.constant(users))
    fresh = model.signatures["exclude_rated"](user_id=tf.constant(users))
    for row, user in enumerate(users):
        all_titles = [t.decode() for t in every["titles"].numpy()[row]]
        new_titles = [t.decode() for t in fresh["titles"].numpy()[row]]
        assert len(new_titles) == 10 and not set(new_titles) & rated[user], user
        assert list(fresh["scores"].numpy()[row]) == sorted(fresh["scores"].numpy()[row], reverse=True)
        # What is left keeps the unfiltered order.
        assert [t for t in all_titles if t not in rated[user]] == new_titles[: len([t for t in all_titles
                                                                                  if t not in rated[user]])]
    assert rated["3"] and rated["nobody"] == set()
    wide = model.signatures["retrieve"](user_id=tf.constant(["3"]), k=tf.constant(25), exclude_rated=tf.constant(False))
    assert wide["titles"].shape == (1, 25)
    np.testing.assert_allclose(wide["scores"].numpy()[0, :10], every["scores"].numpy()[0], rtol=1e-5)


def test_retrieval_index_matches_exact_search(trained: Path) -> None:
    metrics = json.loads((trained / "metrics.json").read_text())["retrieval"]
    assert metrics["index"]["kind"] == "scann" and metrics["scann_recall_at_10"] >= 0.99
    assert metrics["scann_recall_users"] == len(retrieval_serving.read_embeddings(trained / "retrieval")["user_ids"])


def test_conversion_matches_the_saved_model(trained: Path, converted_model: Path) -> None:
    metrics = json.loads((converted_model.parent / "manifest.json").read_text())["metrics"]
    assert metrics["pairs"] == 200 and metrics["max_abs_diff"] <= 1e-4
    assert metrics["test_rmse"] == pytest.approx(metrics["saved_model_test_rmse"], abs=1e-5)
    ranker = EdgeRanker(converted_model)
    loaded = tf.saved_model.load(str(serving.resolve(trained / "ranking")))
    titles = [movie_title(m) for m in range(1, 41)] + ["Not In The Catalogue (2030)"]
    expected = loaded.signatures["serving_default"](
        user_id=tf.constant(["9"] * len(titles)), movie_title=tf.constant(titles))["rating"].numpy()
    np.testing.assert_allclose(ranker.score("9", titles), expected, atol=1e-4)
    ranked = ranker.rank("9", titles, k=5).candidates
    np.testing.assert_allclose([c.score for c in ranked], np.sort(expected)[::-1][:5], atol=1e-4)
    assert [c.movie_title for c in ranked] == [titles[i] for i in np.argsort(-ranker.score("9", titles), kind="stable")[:5]]


def test_every_variant_passes_the_quality_gate(trained: Path, bundles: dict[str, Path]) -> None:
    sizes = {}
    for variant, bundle in bundles.items():
        manifest = assert_matches_schema(bundle / "manifest.json", "manifest")
        sizes[variant] = manifest["size_bytes"]
        metrics, runtime = manifest["metrics"], manifest["runtime"]
        assert manifest["quantization"]["mode"] == variant and manifest["version"].startswith("1+")
        assert metrics["test_rmse"] - metrics["saved_model_test_rmse"] <= 0.01, variant
        assert runtime["min_runtime_version"] == ("2.7.0" if variant == "int8" else "2.5.0"), variant
        assert runtime["cpu_delegate"] in ("xnnpack", "none")
        assert not any(op.startswith("FULLY_CONNECTED v12") for op in runtime["ops"]), variant
        ranker = EdgeRanker(bundle)
        assert ranker.cpu_delegate == runtime["cpu_delegate"]
        assert ranker.titles() == (trained / "ranking" / "1" / "assets.extra" / "titles.txt").read_text(
            encoding="utf-8").splitlines()
        assert manifest["training"]["data_fingerprint"] == serving.read_info(trained / "ranking" / "1")["data_fingerprint"]
    # int8 stores its weights as int8 and computes in float32: per-channel DEQUANTIZE, float kernels.
    int8 = json.loads((bundles["int8"] / "manifest.json").read_text())
    assert "DEQUANTIZE v5" in int8["runtime"]["ops"] and "FULLY_CONNECTED v1" in int8["runtime"]["ops"]
    assert int8["runtime"]["min_runtime_version"] == "2.7.0" and int8["quantization"]["int8_activations"] is False
    assert sizes["int8"] < sizes["float16"] < sizes["none"] and sizes["dynamic"] < sizes["float16"]


def test_every_variant_keeps_the_order(bundles: dict[str, Path]) -> None:
    for variant, bundle in bundles.items():
        metrics = json.loads((bundle / "manifest.json").read_text())["metrics"]
        # The synthetic split's 30 users: every one of them scored over all 40 titles.
        assert metrics["order_users"] == 30 and metrics["order_titles"] == 40, variant
        assert metrics["top_10_overlap"] >= 0.98 and metrics["pair_agreement"] >= 0.995, variant
        assert metrics["distinct_scores"] == 40 and 0 < metrics["ndcg_at_10"] <= 1, variant


def test_the_order_gate_refuses_full_integer_int8(trained: Path, bundles: dict[str, Path]) -> None:
    before = {p.name: p.read_bytes() for p in bundles["int8"].iterdir()}
    with pytest.raises(tflite.ConversionError,
                       match=r"order gate: the int8 variant keeps a top-10 overlap of [01]\.\d+ with the SavedModel "
                             r"\(at least 0\.98\).* distinct scores per user, over 30 users x 40 titles; the previous "
                             r"bundle at .* is kept"):
        tflite.convert_ranker(convert_config(trained, "int8", int8_activations=True))
    assert {p.name: p.read_bytes() for p in bundles["int8"].iterdir()} == before


def test_conversion_refuses_a_model_that_disagrees(trained: Path, converted_model: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    before = {p.name: p.read_bytes() for p in converted_model.parent.iterdir()}
    real = scoring.saved_model_scorer
    monkeypatch.setattr(scoring, "saved_model_scorer", lambda loaded: lambda *pairs: real(loaded)(*pairs) + 1e-3)
    with pytest.raises(tflite.ConversionError, match=r"differs from the SavedModel by 0.001.* > 0.0001.*previous bundle"):
        tflite.convert_ranker(convert_config(trained))
    assert {p.name: p.read_bytes() for p in converted_model.parent.iterdir()} == before
    assert [p.name for p in converted_model.parent.parent.iterdir() if p.name.startswith(".")] == []


def test_the_quality_gate_refuses_a_variant_that_loses_accuracy(trained: Path, bundles: dict[str, Path]) -> None:
    before = (bundles["int8"] / "manifest.json").read_bytes()
    with pytest.raises(tflite.ConversionError, match=r"quality gate: the int8 variant's test RMSE .* by more than -1"):
        tflite.convert_ranker(convert_config(trained, "int8", rmse_tolerance=-1.0))
    assert (bundles["int8"] / "manifest.json").read_bytes() == before


def test_ops_too_new_for_the_target_runtime_stop_conversion(trained: Path, tmp_path: Path) -> None:
    with pytest.raises(compatibility.CompatibilityError,
                       match=r"needs TFLite runtime 2.17.0 but the target is 2.14.0 .*FULLY_CONNECTED v12"):
        tflite.convert_ranker(convert_config(trained, "dynamic", per_channel_dense=True, output=str(tmp_path / "b")))
    assert not (tmp_path / "b").exists()
    # The same model is accepted where the target runtime has the op.
    report = tflite.convert_ranker(convert_config(trained, "dynamic", per_channel_dense=True, target_runtime="2.17.0",
                                                  output=str(tmp_path / "b")))
    assert "FULLY_CONNECTED v12" in report.ops and report.min_runtime_version == "2.17.0"


def test_conversion_names_a_missing_saved_model(tmp_path: Path) -> None:
    with pytest.raises(serving.ServingLayoutError, match="neither a SavedModel"):
        tflite.convert_ranker(convert_config(tmp_path, output=str(tmp_path / "b")))


def test_conversion_names_an_unknown_variant(trained: Path) -> None:
    with pytest.raises(tflite.ConversionError, match="unknown --quantize 'int4'"):
        tflite.convert_ranker(dataclasses.replace(convert_config(trained), quantize="int4"))


def test_conversion_names_unusable_validation_data(trained: Path, tmp_path: Path) -> None:
    bogus = tmp_path / "test.npz"
    np.savez(bogus, user_id=np.array(["1"]))
    with pytest.raises(tflite.ConversionError, match="columns user_id, movie_title, user_rating"):
        tflite.convert_ranker(convert_config(trained, validation_data=str(bogus), output=str(tmp_path / "b")))
    assert not (tmp_path / "b").exists()


@pytest.mark.filterwarnings("error::RuntimeWarning")  # the new users' figures once came from an index without them
def test_the_new_users_split_folds_the_held_out_users_histories_in_and_serves_the_training_users(
        synthetic_archive: Path, tmp_path: Path) -> None:
    """``--split-method users``: the test users are new ones; the history model and the history retrieval are
    tested on their earlier interactions, while the server retrieval is built on the training users alone."""
    from interactions.schema import LogConfig
    from trainer.config import HistoryConfig, RankingConfig, RetrievalConfig, SplitConfig, TrainConfig
    from trainer.pipeline import train

    metrics = train(TrainConfig(
        log=LogConfig(data=str(synthetic_archive)), output_dir=str(tmp_path),
        split=SplitConfig(method="users", train_fraction=0.5, new_user_fraction=0.2),
        ranking=RankingConfig(model="autorec", autorec_hidden_units=8, autorec_max_epochs=4, autorec_patience=2),
        retrieval=RetrievalConfig(model="history"),
        history=HistoryConfig(embedding_dim=8, max_epochs=2, patience=1, batch_users=16)), verbose=0)
    with (np.load(tmp_path / "data" / "train.npz") as train_split, np.load(tmp_path / "data" / "test.npz") as test,
          np.load(tmp_path / "data" / "new_users.npz") as new_users):
        trained_users, new = set(train_split["user_id"].tolist()), set(new_users["user_id"].tolist())
        assert set(test["user_id"].tolist()) <= new and not new & trained_users
    assert len(new) == 6 and len(trained_users) == 24  # 20% of the 30 users held out
    assert np.isfinite(metrics["history"]["rmse"]) and 0 < metrics["history"]["top_100"] <= 1
    embeddings = retrieval_serving.read_embeddings(tmp_path / "retrieval" / "1")
    assert set(embeddings["user_ids"].tolist()) == trained_users
    assert embeddings["user_embeddings"].shape[0] == len(trained_users)
