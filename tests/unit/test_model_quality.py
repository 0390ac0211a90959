"""The models that beat the tutorials: AutoRec ranker and full-softmax retrieval."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.unit.conftest import SYNTHETIC_SPLIT, convert_config
from interactions.schema import LogConfig
from trainer.config import RankingConfig, RetrievalConfig, TrainConfig

AUTOREC = RankingConfig(model="autorec", autorec_hidden_units=16, autorec_max_epochs=400, autorec_patience=100,
                        autorec_learning_rate=0.01, autorec_l2=1.0)
FULL_SOFTMAX = RetrievalConfig(loss="full_softmax", optimizer="adam", learning_rate=0.05, l2=0.01, batch_size=128,
                               eval_batch_size=200, epochs=12, patience=3, embedding_dim=8)


@pytest.fixture(scope="module")
def improved(synthetic_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from trainer.pipeline import train

    output = tmp_path_factory.mktemp("improved")
    train(TrainConfig(log=LogConfig(data=str(synthetic_archive)), output_dir=str(output), split=SYNTHETIC_SPLIT,
                      ranking=AUTOREC, retrieval=FULL_SOFTMAX), verbose=0)
    return output


def test_autorec_beats_the_global_mean_with_epochs_chosen_on_validation(improved: Path) -> None:
    metrics = json.loads((improved / "metrics.json").read_text())["ranking"]
    train, test = (np.load(improved / "data" / f"{name}.npz") for name in ("train", "test"))
    global_mean = float(np.sqrt(np.mean((test["user_rating"] - train["user_rating"].mean()) ** 2)))
    assert metrics["rmse"] < 0.8 * global_mean
    assert 1 <= metrics["epochs"] <= AUTOREC.autorec_max_epochs
    assert metrics["validation_rmse"] > 0
    info = json.loads(next((improved / "ranking").glob("*/assets.extra/edgerank.json")).read_text())
    assert info["architecture"]["model"] == "autorec"
    assert info["architecture"]["title_embedding"] == AUTOREC.autorec_hidden_units + 1


def test_autorec_keeps_the_ranker_contract(improved: Path) -> None:
    import tensorflow as tf

    from trainer import serving

    loaded = tf.saved_model.load(str(serving.resolve(improved / "ranking")))
    test = np.load(improved / "data" / "test.npz")
    user = test["user_id"][0]
    titles = test["movie_title"][test["user_id"] == user]
    pairs = loaded.signatures["serving_default"](user_id=tf.constant([user] * len(titles)),
                                                 movie_title=tf.constant(titles))["rating"].numpy()
    scored = loaded.signatures["score"](user_id=tf.constant([user]), movie_title=tf.constant(titles))
    np.testing.assert_allclose(scored["rating"].numpy(), pairs, atol=1e-5)
    assert scored["user_known"].numpy().tolist() == [True]
    unknown = loaded.signatures["score"](user_id=tf.constant(["no such user"]),
                                         movie_title=tf.constant([titles[0], "no such title"]))
    assert unknown["user_known"].numpy().tolist() == [False]
    assert unknown["title_known"].numpy().tolist() == [True, False]
    assert np.all((unknown["rating"].numpy() >= 1) & (unknown["rating"].numpy() <= 5))


def test_autorec_converts_to_int8_within_the_quality_gate(improved: Path) -> None:
    from converters.tflite import convert_ranker

    report = convert_ranker(convert_config(improved, "int8"))
    assert report.validation.test_rmse <= report.validation.saved_model_test_rmse + 0.01
    assert report.ops and not any(op.startswith(("FLEX", "CUSTOM", "BUILTIN_")) for op in report.ops)
    manifest = json.loads((Path(report.bundle) / "manifest.json").read_text())
    assert manifest["architecture"]["model"] == "autorec"


def test_full_softmax_retrieval_stops_early_on_validation(improved: Path) -> None:
    metrics = json.loads((improved / "metrics.json").read_text())["retrieval"]
    assert 1 <= metrics["epochs"] <= FULL_SOFTMAX.epochs
    assert 0 < metrics["validation_top_100"] <= 1
    assert 0 < metrics["top_10"] <= metrics["top_100"]


def test_full_softmax_leaves_the_users_other_rated_titles_out() -> None:
    import tensorflow as tf

    from trainer.retrieval import RetrievalModel

    users, titles = np.array(["u1", "u2"]), np.array(["a", "b", "c", "d"])
    model = RetrievalModel(users, titles, RetrievalConfig(loss="full_softmax", embedding_dim=4))
    model.set_rated(np.array(["u1", "u1", "u2"]), np.array(["a", "b", "c"]))
    features = {"user_id": tf.constant(["u1"]), "movie_title": tf.constant(["a"])}
    query = model.user_model(features["user_id"])
    loss = float(model.full_softmax_loss(features, query, model.movie_model(features["movie_title"])))
    # u1 rated a and b: a's negatives are c and d only (b is rated, row 0 is the unknown title).
    logits = (query.numpy() @ model.movie_model(tf.constant(["a", "c", "d"])).numpy().T)[0]
    assert loss == pytest.approx(float(np.log(np.exp(logits).sum()) - logits[0]), rel=1e-5)


@pytest.mark.parametrize("section, field", [("ranking", "model"), ("retrieval", "model"), ("retrieval", "loss"),
                                            ("retrieval", "optimizer")])
def test_unknown_model_choices_are_refused_by_name(synthetic_archive: Path, tmp_path: Path, section: str,
                                                   field: str) -> None:
    from trainer.config import ConfigError
    from trainer.pipeline import train

    config = TrainConfig(log=LogConfig(data=str(synthetic_archive)), output_dir=str(tmp_path), split=SYNTHETIC_SPLIT)
    setattr(getattr(config, section), field, "bogus")
    if section == "ranking":
        config.retrieval.epochs = 1
    with pytest.raises(ConfigError, match="bogus"):
        train(config, verbose=0)


def test_the_history_retrieval_needs_the_history_model_enabled(synthetic_archive: Path, tmp_path: Path) -> None:
    from trainer.config import ConfigError, HistoryConfig, RetrievalConfig
    from trainer.pipeline import train

    config = TrainConfig(log=LogConfig(data=str(synthetic_archive)), output_dir=str(tmp_path / "out"), split=SYNTHETIC_SPLIT,
                         retrieval=RetrievalConfig(model="history"), history=HistoryConfig(enabled=False))
    with pytest.raises(ConfigError, match="--retrieval-model two_tower"):
        train(config, verbose=0)
    assert not (tmp_path / "out").exists()  # refused before anything is written
