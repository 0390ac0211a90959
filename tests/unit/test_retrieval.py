"""Retrieval at scale: ScaNN settings, exact search, strategies, serving without ScaNN, two-stage recommend."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.handoff import Handoff, HandoffError, read_handoff, write_handoff
from tests.conftest import assert_matches_schema
from trainer import distribution, scann_index, towers


def test_scann_settings_follow_the_corpus_size() -> None:
    million = scann_index.derive_settings(1_000_000)
    assert (million.num_leaves, million.num_leaves_to_search, million.reorder) == (2000, 10, 50)
    assert million.training_sample_size == 250_000
    small = scann_index.derive_settings(1_664)
    assert small.num_leaves == 82 and small.num_leaves_to_search == 82  # small: every leaf
    assert scann_index.derive_settings(100_000, k=100).reorder == 200
    custom = scann_index.derive_settings(1_000_000, num_leaves=500, num_leaves_to_search=7, reorder=30)
    assert (custom.num_leaves, custom.num_leaves_to_search, custom.reorder) == (500, 7, 30)
    with pytest.raises(ValueError, match="needs candidates"):
        scann_index.derive_settings(0)


def test_exact_top_k_is_the_sorted_best_dot_products() -> None:
    rng = np.random.default_rng(0)
    candidates, queries = rng.normal(size=(500, 8)).astype(np.float32), rng.normal(size=(7, 8)).astype(np.float32)
    expected = np.argsort(-(queries @ candidates.T), axis=1, kind="stable")[:, :20]
    np.testing.assert_array_equal(scann_index.exact_top_k(queries, candidates, 20, batch=3), expected)
    assert scann_index.recall(expected, expected) == 1.0
    assert scann_index.recall(expected[:, ::-1], expected) == 1.0  # order does not matter
    assert scann_index.recall(np.zeros_like(expected) - 1, expected) == 0.0


def test_scann_reaches_exact_recall_on_clustered_data() -> None:
    import scann

    rng = np.random.default_rng(1)
    centres = rng.normal(size=(50, 16)).astype(np.float32)
    candidates = (centres[rng.integers(0, 50, 20_000)] + 0.3 * rng.normal(size=(20_000, 16))).astype(np.float32)
    queries = (centres[rng.integers(0, 50, 200)] + 0.3 * rng.normal(size=(200, 16))).astype(np.float32)
    settings = scann_index.derive_settings(len(candidates))
    searcher = scann_index.builder(scann.scann_ops_pybind, candidates, 10, settings).build()
    found, _ = searcher.search_batched(queries)
    assert scann_index.recall(np.asarray(found), scann_index.exact_top_k(queries, candidates, 10)) >= 0.99


def test_a_fixed_embedding_table_is_the_layer_s_weights_not_its_config() -> None:
    """Keras serializes every layer's config when a model is saved: a table held there (a Constant
    initializer's value, as nested lists) took 43 s and 1.1 GiB to save at 162,541 users."""
    import tensorflow as tf

    table = np.arange(1001 * 4, dtype=np.float32).reshape(1001, 4)
    model = towers.string_embedding(np.array([f"u{i}" for i in range(1000)]), 4, table=table)
    np.testing.assert_array_equal(model(tf.constant(["u0", "u999", "nobody"])).numpy(), table[[1, 1000, 0]])
    embedding = model.layers[1]
    assert not embedding.trainable and len(json.dumps(embedding.get_config())) < 1000


def test_strategy_selection_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    import tensorflow as tf

    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert distribution.describe(distribution.select_strategy("auto")) == {
        "strategy": "_DefaultDistributionStrategy", "replicas": 1}
    assert isinstance(distribution.select_strategy("one_device"), tf.distribute.OneDeviceStrategy)
    with pytest.raises(distribution.DistributionError, match="unknown distribution 'tpu'"):
        distribution.select_strategy("tpu")
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1", "b:2"]}, "task": {}}))
    assert distribution.cluster_workers() == 2
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(distribution.DistributionError, match="TF_CONFIG is not a JSON object"):
        distribution.cluster_workers()


# Two logical CPUs must be declared before TensorFlow starts, and the mixed policy is global: a fresh process.
TRAIN_IN_CHILD = """
import json, sys
import trainer
import tensorflow as tf
cpu, = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from converters.config import ConvertConfig
from converters.tflite import convert_ranker
from interactions.schema import LogConfig
from trainer.config import RankingConfig, RetrievalConfig, SplitConfig, TrainConfig
from trainer.pipeline import train
out = sys.argv[2]
metrics = train(TrainConfig(
    log=LogConfig(data=sys.argv[1]), output_dir=out, distribution=sys.argv[3], mixed_precision=sys.argv[4] == "mixed",
    split=SplitConfig(shuffle_buffer=1000, train_size=800, test_size=200),
    ranking=RankingConfig(batch_size=64, eval_batch_size=200, epochs=2, hidden_units=(32, 16)),
    retrieval=RetrievalConfig(batch_size=128, eval_batch_size=200, epochs=1, embedding_dim=8)), verbose=0)
report = convert_ranker(ConvertConfig(saved_model=out + "/ranking", output=out + "/edge",
                                      validation_data=out + "/data/test.npz"))
print(json.dumps({"distribution": metrics["distribution"], "rmse": metrics["ranking"]["rmse"],
                  "top_100": metrics["retrieval"]["top_100"], "max_abs_diff": report.validation.max_abs_diff}))
"""


@pytest.mark.parametrize("strategy, precision, replicas", [("mirrored", "float32", 2), ("default", "mixed", 1)])
def test_training_on_two_replicas_and_in_mixed_precision(synthetic_archive: Path, tmp_path: Path, strategy: str,
                                                         precision: str, replicas: int) -> None:
    result = subprocess.run([sys.executable, "-c", TRAIN_IN_CHILD, str(synthetic_archive), str(tmp_path), strategy,
                             precision], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["distribution"]["replicas"] == replicas
    assert summary["distribution"]["strategy"] == ("MirroredStrategy" if replicas == 2 else "_DefaultDistributionStrategy")
    assert 0 < summary["rmse"] < 2 and summary["top_100"] == 1.0  # 40 titles: all in the top 100
    # The exported ranker computes in float32 either way, and converts within the tolerance.
    assert summary["max_abs_diff"] <= 1e-4


def test_metrics_during_training_do_not_change_the_model(synthetic_archive: Path) -> None:
    """FactorizedTopK off during fit (the default) gives the same test figures as on."""
    from trainer import data, retrieval
    from trainer.config import RetrievalConfig, SplitConfig

    movielens = data.load_movielens(synthetic_archive)
    split = SplitConfig(shuffle_buffer=1000, train_size=800, test_size=200)
    train_split, test_split = data.split_ratings(movielens.ratings, split)
    results = []
    for during in (False, True):
        config = RetrievalConfig(batch_size=128, eval_batch_size=200, epochs=2, embedding_dim=8,
                                 metrics_during_training=during)
        _, metrics = retrieval.train_retrieval(train_split, test_split, movielens.user_ids,
                                               movielens.unique_movie_titles, config, seed=42, verbose=0)
        results.append(metrics)
    assert results[0] == results[1]


def test_the_catalogue_top_k_scores_as_tfrs_streaming_does(synthetic_archive: Path) -> None:
    """FactorizedTopK over CatalogueTopK (one product per query batch) equals it over TFRS's own Streaming."""
    import tensorflow as tf
    import tensorflow_recommenders as tfrs

    from trainer import data, retrieval
    from trainer.config import RetrievalConfig, SplitConfig

    movielens = data.load_movielens(synthetic_archive)
    train_split, test_split = data.split_ratings(movielens.ratings, SplitConfig(train_size=800, test_size=200))
    titles = movielens.unique_movie_titles
    model, _ = retrieval.train_retrieval(train_split, test_split, movielens.user_ids, titles,
                                         RetrievalConfig(batch_size=128, epochs=1, embedding_dim=8), seed=42, verbose=0)
    users = model.user_model(tf.constant(test_split["user_id"]))
    positives = model.movie_model(tf.constant(test_split["movie_title"]))
    streaming = tf.data.Dataset.from_tensor_slices(titles).batch(7).map(model.movie_model)  # batches of 7: merges
    figures = []
    for candidates in (retrieval.CatalogueTopK(model.movie_model, titles, 100), streaming):
        metric = tfrs.metrics.FactorizedTopK(candidates=candidates, ks=retrieval.TOP_KS)
        metric.update_state(users, positives)
        figures.append([float(value) for value in metric.result()])
    assert figures[0] == figures[1] and 0 < figures[0][2] < figures[0][-1] == 1.0  # top 100 of 40 titles: all


# Blocks `import scann` the way a machine without it fails.
WITHOUT_SCANN = """
import sys
sys.modules["scann"] = None
import trainer
from interactions.schema import LogConfig
from trainer.config import RankingConfig, RetrievalConfig, SplitConfig, TrainConfig
from trainer.pipeline import train
from converters.config import ConvertConfig
from converters.tflite import convert_ranker
from edge_runtime import EdgeRanker
out = sys.argv[2]
metrics = train(TrainConfig(
    log=LogConfig(data=sys.argv[1]), output_dir=out,
    split=SplitConfig(shuffle_buffer=1000, train_size=800, test_size=200),
    ranking=RankingConfig(batch_size=64, eval_batch_size=200, epochs=2, hidden_units=(32, 16)),
    retrieval=RetrievalConfig(batch_size=128, eval_batch_size=200, epochs=1, embedding_dim=8)), verbose=0)
report = convert_ranker(ConvertConfig(saved_model=out + "/ranking", output=out + "/edge",
                                      validation_data=out + "/data/test.npz"))
print(metrics["retrieval"]["index"]["kind"], EdgeRanker(report.bundle).score("3", ["x"]).shape)
from trainer.retrieval_serving import load, ScannUnavailableError
try:
    load(sys.argv[3])
except ScannUnavailableError as error:
    print("refused:", error)
"""


def test_everything_but_the_scann_index_works_without_scann(synthetic_archive: Path, trained: Path,
                                                             tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-c", WITHOUT_SCANN, str(synthetic_archive), str(tmp_path),
                             str(trained / "retrieval" / "1")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert lines[-2] == "exact (1,)"
    assert lines[-1].startswith("refused:") and "holds a ScaNN index" in lines[-1] and "pip install scann" in lines[-1]


def test_handoff_round_trip_and_errors(tmp_path: Path) -> None:
    handoff = Handoff("42", ["A (1990)", "Ä (1991)"], [2.5, 1.0], {"k": 2, "exclude_rated": True})
    path = write_handoff(tmp_path / "h.json", handoff)
    assert read_handoff(path) == handoff
    assert_matches_schema(path, "handoff")
    assert json.loads(path.read_text(encoding="utf-8"))["schema_version"] == 1
    for content, message in [("{", "cannot read"), ('{"schema_version": 2}', "schema version 1"),
                             ('{"schema_version": 1, "user_id": 42, "candidates": []}', "string user_id")]:
        (tmp_path / "bad.json").write_text(content)
        with pytest.raises(HandoffError, match=message):
            read_handoff(tmp_path / "bad.json")
    with pytest.raises(HandoffError, match="cannot read"):
        read_handoff(tmp_path / "missing.json")


def _edgerank(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgerank", *args], capture_output=True, text=True,
                          timeout=300)


def test_two_stage_recommend_end_to_end(trained: Path, bundles: dict[str, Path], tmp_path: Path) -> None:
    handoff = tmp_path / "handoff.json"
    retrieved = _edgerank("retrieve", "--json", "--retrieval", str(trained / "retrieval"), "--user", "3", "--k", "20",
                          "--output", str(handoff))
    assert retrieved.returncode == 0, retrieved.stderr
    candidates = read_handoff(handoff)
    with np.load(trained / "data" / "train.npz") as train:
        rated = set(train["movie_title"][train["user_id"] == "3"].tolist())
    assert len(candidates.titles) == min(20, 40 - len(rated)) and not set(candidates.titles) & rated
    assert candidates.retrieval_scores == sorted(candidates.retrieval_scores, reverse=True)

    # The device half alone, from the file; and both halves in one command.
    from_file = _edgerank("recommend", "--json", "--user", "3", "--k", "5", "--model", str(bundles["none"]),
                          "--handoff", str(handoff))
    in_one = _edgerank("recommend", "--json", "--user", "3", "--k", "5", "--model", str(bundles["none"]),
                       "--retrieval", str(trained / "retrieval"), "--retrieve-k", "20")
    for result in (from_file, in_one):
        assert result.returncode == 0, result.stderr
    picked = json.loads(from_file.stdout)
    assert json.loads(in_one.stdout)["recommendations"] == picked["recommendations"]
    titles = [r["movie_title"] for r in picked["recommendations"]]
    scores = [r["score"] for r in picked["recommendations"]]
    assert len(titles) == min(5, len(candidates.titles)) and set(titles) <= set(candidates.titles) and scores == sorted(scores, reverse=True)
    from edge_runtime import EdgeRanker
    best = EdgeRanker(bundles["none"]).rank("3", candidates.titles, k=5)
    assert titles == [c.movie_title for c in best.candidates]

    wrong_user = _edgerank("recommend", "--json", "--user", "4", "--model", str(bundles["none"]), "--handoff", str(handoff))
    assert wrong_user.returncode == 2 and "is for user '3', not '4'" in wrong_user.stderr


def test_ranking_loss_is_keras_mean_squared_error() -> None:
    import tensorflow as tf

    from trainer.ranking import MeanSquaredError

    labels, ratings = tf.constant([1.0, 4.0, 5.0]), tf.constant([[2.0], [3.5], [5.0]])
    assert float(MeanSquaredError()(labels, ratings)) == pytest.approx(
        float(tf.keras.losses.MeanSquaredError()(labels, ratings)))
    assert float(MeanSquaredError()(labels, ratings)) == pytest.approx((1 + 0.25 + 0) / 3)


def test_popularity_correction_uses_each_titles_training_share(synthetic_archive: Path) -> None:
    import tensorflow as tf

    from trainer import data, retrieval
    from trainer.config import RetrievalConfig, SplitConfig

    movielens = data.load_movielens(synthetic_archive)
    train_split, test_split = data.split_ratings(movielens.ratings,
                                                 SplitConfig(shuffle_buffer=1000, train_size=800, test_size=200))
    config = RetrievalConfig(batch_size=128, eval_batch_size=200, epochs=2, embedding_dim=8, popularity_correction=True)
    model, metrics = retrieval.train_retrieval(train_split, test_split, movielens.user_ids,
                                               movielens.unique_movie_titles, config, seed=42, verbose=0)
    title = train_split["movie_title"][0]
    share = float(np.mean(train_split["movie_title"] == title))
    assert float(model.sampling_probability.lookup(tf.constant([title]))[0]) == pytest.approx(share)
    assert 0 < metrics["top_10"] <= metrics["top_100"] == 1.0
