"""Training at scale: sparse rows densified a batch at a time, AutoRec's two step kinds, the planted log."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import tensorflow as tf
from scipy import sparse

from benchmarks import planted_log
from interactions import metrics
from trainer import autorec, history_retrieval, sparse_rows
from trainer.config import HistoryConfig, RankingConfig


def test_interaction_rows_keep_a_repeated_cell_s_last_value_and_stored_zeros() -> None:
    matrix = sparse_rows.interaction_rows(np.array([0, 1, 0, 1]), np.array([2, 0, 2, 1]),
                                          np.array([1.0, 0.0, 4.0, 3.0]), (2, 3))
    np.testing.assert_array_equal(matrix.toarray(), [[0, 0, 4], [0, 3, 0]])
    assert matrix.nnz == 3  # (1, 0) = 0 is a rating of 0, not a missing one
    blocks = list(sparse_rows.row_blocks(matrix, 1))
    assert [start for start, _ in blocks] == [0, 1] and blocks[1][1].shape == (1, 3)


@pytest.mark.parametrize("dense_limit", [0, sparse_rows.DENSE_ROWS_BYTES])
def test_row_batches_are_the_rows_made_dense_in_the_same_order_either_way(monkeypatch: pytest.MonkeyPatch,
                                                                         dense_limit: int) -> None:
    monkeypatch.setattr(sparse_rows, "DENSE_ROWS_BYTES", dense_limit)  # 0: sparse rows, densified per batch
    matrix = sparse_rows.interaction_rows(np.repeat(np.arange(30), 2), np.tile([1, 3], 30), np.arange(60.0), (30, 4))
    batches = list(sparse_rows.dense_batches(8, rows=matrix))
    np.testing.assert_array_equal(np.vstack([batch["rows"].numpy() for batch in batches]), matrix.toarray())
    assert [len(batch["rows"]) for batch in batches] == [8, 8, 8, 6]
    shuffled = np.vstack([batch["rows"].numpy() for batch in sparse_rows.dense_batches(8, 7, rows=matrix)])
    order = shuffled[:, 1].astype(int) // 2  # each row's first value is twice its row number
    assert sorted(order) == list(range(30)) and order.tolist() != list(range(30))
    assert order.tolist() == list(tf.data.Dataset.range(30).shuffle(30, seed=7).as_numpy_iterator())  # both ways
    np.testing.assert_array_equal(shuffled, matrix.toarray()[order])


def test_test_ranks_count_what_top_k_accuracy_counted_user_by_user() -> None:
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 6, (30, 150)).astype(float)  # many ties
    rows, columns = rng.integers(0, 30, 400), rng.integers(0, 150, 400)
    seen = [rng.choice(150, 20, replace=False) for _ in range(30)]
    for excluded in (None, seen):
        masked = scores.copy()
        for row, items in enumerate(excluded or []):
            masked[row, items] = -np.inf
        brute = np.array([(masked[row] >= masked[row, column]).sum() - 1 for row, column in zip(rows, columns)])
        ranks = metrics.test_ranks(scores, rows, columns, excluded, most=100)
        np.testing.assert_array_equal(ranks, np.minimum(brute, 100))


def _ratings(users: int, titles: int, per_user: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    taste = rng.normal(size=(users, 3)) @ rng.normal(size=(3, titles))
    user = np.repeat(np.arange(users), per_user)
    title = np.concatenate([rng.choice(titles, per_user, replace=False) for _ in range(users)])
    value = np.clip(np.round(3 + taste[user, title] + rng.normal(0, 0.3, len(user))), 1, 5)
    return {"user_id": np.array([f"u{u:03d}" for u in user]), "movie_title": np.array([f"t{t:03d}" for t in title]),
            "user_rating": value.astype(np.float32)}


@pytest.mark.parametrize("in_graph", [False, True])
def test_autorec_s_sparse_step_has_the_dense_step_s_loss_and_gradients(in_graph: bool) -> None:
    """The sparse step (a sparse product in, the decoder at the observed cells only, its own gradient) and the
    dense one (the batch made dense, decoded whole) differentiate to the same numbers, eagerly and in a graph."""
    rng = np.random.default_rng(3)
    matrix = sparse.random(12, 40, density=0.2, random_state=3, dtype=np.float32,
                           data_rvs=lambda count: rng.integers(1, 6, count)).tocsr()  # users rate several titles
    batch = next(iter(sparse_rows.row_batches(12, ratings=matrix)))["ratings"]
    config = RankingConfig(model="autorec", autorec_hidden_units=8, autorec_l2=1.0)
    models = {dense: autorec.AutoRecModel(40, config, observed=matrix.nnz, dense_batches=dense, start_rating=3.0)
              for dense in (True, False)}
    models[False].set_weights([rng.normal(0, 0.3, weight.shape) for weight in models[True].get_weights()])
    models[True].set_weights(models[False].get_weights())

    def loss_and_gradients(model: autorec.AutoRecModel) -> tuple[tf.Tensor, list[tf.Tensor]]:
        with tf.GradientTape() as tape:
            loss = model.compute_loss({"ratings": batch, "targets": batch}, training=True)
        return loss, [tf.convert_to_tensor(gradient) for gradient in tape.gradient(loss, model.trainable_variables)]

    results = {dense: (tf.function(loss_and_gradients) if in_graph else loss_and_gradients)(model)
               for dense, model in models.items()}
    assert float(results[False][0]) == pytest.approx(float(results[True][0]), rel=1e-5)
    for sparse_gradient, dense_gradient in zip(results[False][1], results[True][1]):
        np.testing.assert_allclose(sparse_gradient.numpy(), dense_gradient.numpy(), rtol=1e-4, atol=1e-6)
    assert max(float(tf.reduce_max(tf.abs(gradient))) for gradient in results[False][1]) > 0


@pytest.mark.parametrize("batch_ratings", [10_000, 600])
def test_autorec_s_gathered_steps_learn_what_its_dense_steps_learn(monkeypatch: pytest.MonkeyPatch,
                                                                   batch_ratings: int) -> None:
    """The same log, trained with each batch made dense and with the decoder gathered at the rated cells only."""
    ratings = _ratings(60, 50, 20)
    test = {name: column[::7] for name, column in ratings.items()}
    users, titles = np.unique(ratings["user_id"]), np.unique(ratings["movie_title"])
    config = RankingConfig(model="autorec", autorec_hidden_units=32, autorec_max_epochs=150, autorec_patience=150,
                           autorec_learning_rate=0.02, autorec_batched_learning_rate=0.02, autorec_l2=1.0,
                           autorec_batch_ratings=batch_ratings, autorec_epoch_batches=2)
    figures = {}
    for density in (0.0, 1.1):  # every log dense, then none
        monkeypatch.setattr(autorec, "DENSE_DENSITY", density)
        ranker, figures[density] = autorec.train_autorec(ratings, test, users, titles, config, seed=1, verbose=0)
    assert figures[0.0]["epochs"] == figures[1.1]["epochs"]
    assert figures[1.1]["rmse"] == pytest.approx(figures[0.0]["rmse"], abs=1e-3)
    assert figures[1.1]["rmse"] < 0.8 * float(np.std(test["user_rating"]))  # and it learned something


def test_autorec_cut_into_batches_starts_at_the_mean_rating_steps_at_its_own_learning_rate_and_is_not_refit(
) -> None:
    """One epoch at a learning rate too small to move: the predictions are still about the start, the mean.

    Started at zero (AutoRec's start, kept for one full batch), its RMSE would be about the mean rating (3);
    stepped at ``autorec_learning_rate`` (10), it would be far off. The fit that chose the epochs serves.
    """
    ratings = _ratings(60, 50, 20)
    test = {name: column[::7] for name, column in ratings.items()}
    users, titles = np.unique(ratings["user_id"]), np.unique(ratings["movie_title"])
    config = RankingConfig(model="autorec", autorec_hidden_units=8, autorec_max_epochs=1, autorec_learning_rate=10.0,
                           autorec_batched_learning_rate=1e-7, autorec_batch_ratings=300)
    ranker, figures = autorec.train_autorec(ratings, test, users, titles, config, seed=1, verbose=0)
    np.testing.assert_array_equal(ranker.title_rows.embeddings.numpy(), ranker.held_out_fit.title_rows)
    mean_rmse = float(np.sqrt(np.mean((test["user_rating"] - ratings["user_rating"].mean()) ** 2)))
    assert figures["rmse"] < 1.1 * mean_rmse  # the untrained codes add a little spread


def test_autorec_is_retrained_as_its_epochs_were_chosen_in_one_full_batch_though_all_its_ratings_pass_the_batch_ratings(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ratings = _ratings(60, 50, 20)  # 1,200 training ratings, 1,080 without the validation split
    users, titles = np.unique(ratings["user_id"]), np.unique(ratings["movie_title"])
    fits = []
    fit = autorec._fit

    def recorded(inputs, config, seed, epochs, batches, *args, **kwargs):
        fits.append((inputs.nnz, batches))
        return fit(inputs, config, seed, epochs, batches, *args, **kwargs)

    monkeypatch.setattr(autorec, "_fit", recorded)
    config = RankingConfig(model="autorec", autorec_hidden_units=8, autorec_max_epochs=2, autorec_batch_ratings=1100)
    autorec.train_autorec(ratings, ratings, users, titles, config, seed=1, verbose=0)
    assert fits == [(1080, 1), (1200, 1)]


def test_an_epoch_past_the_batch_ratings_is_cut_into_batches_of_at_most_that_many_and_at_least_epoch_batches(
) -> None:
    ratings = sparse_rows.interaction_rows(np.repeat(np.arange(100), 10), np.tile(np.arange(10), 100),
                                           np.ones(1000), (100, 10))
    assert autorec.epoch_batches(ratings, RankingConfig(autorec_batch_ratings=5000)) == 1  # one full batch
    assert autorec.epoch_batches(ratings, RankingConfig(autorec_batch_ratings=300, autorec_epoch_batches=1)) == 4
    assert autorec.batch_titles(100, 4) == 25  # 4 batches of 250 ratings
    assert autorec.epoch_batches(ratings, RankingConfig(autorec_batch_ratings=300, autorec_epoch_batches=7)) == 7
    assert autorec.epoch_batches(ratings, RankingConfig(autorec_batch_ratings=300, autorec_epoch_batches=64)) == 50
    # One full batch steps at AutoRec's rate; 4 batches share the batched rate, a quarter each.
    assert autorec.learning_rate(1, RankingConfig(autorec_learning_rate=0.3)) == 0.3
    assert autorec.learning_rate(4, RankingConfig(autorec_batched_learning_rate=0.02)) == pytest.approx(0.005)


def test_history_retrieval_past_epoch_users_trains_and_validates_in_epochs_of_that_many_users(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    users, titles = 100, 30
    rows = sparse_rows.interaction_rows(rng.integers(0, users, 1500), rng.integers(1, titles + 1, 1500),
                                        rng.integers(1, 6, 1500).astype(float), (users, titles + 1))
    held_out = sparse_rows.interaction_rows(np.arange(50), rng.integers(1, titles + 1, 50), np.full(50, 4.0),
                                            (users, titles + 1))  # the first 50 users have one held-out rating
    validated = []
    dense_batches = sparse_rows.dense_batches

    def recorded(batch: int, shuffle_seed: int | None = None, **matrices):
        if "targets" in matrices:
            validated.append(matrices["targets"].getnnz(axis=1))
        return dense_batches(batch, shuffle_seed, **matrices)

    monkeypatch.setattr(sparse_rows, "dense_batches", recorded)
    config = HistoryConfig(embedding_dim=4, batch_users=8, epoch_users=24, max_epochs=3, patience=3).for_feedback(False)
    model, fitted = history_retrieval._fit(rows, config, 0, 3, 0, None, validation=held_out)
    assert int(model.optimizer.iterations) == 3 * 3  # epochs of 24 users (3 batches), not of all 100 (13)
    assert len(fitted.history[history_retrieval.VALIDATION_METRIC]) == 3
    (targets,) = validated
    assert len(targets) == 24 and (targets == 1).all()  # 24 of the users with held-out ratings
    small = HistoryConfig(embedding_dim=4, batch_users=8, max_epochs=1).for_feedback(False)  # 100 users ≤ 16,384
    assert int(history_retrieval._fit(rows, small, 0, 1, 0, None)[0].optimizer.iterations) == 13  # whole passes


@pytest.mark.parametrize("epoch_users, fits", [(24, 1), (16_384, 2)])
def test_history_retrieval_past_epoch_users_serves_its_early_stopped_fit_and_is_retrained_below(
        monkeypatch: pytest.MonkeyPatch, epoch_users: int, fits: int) -> None:
    ratings = _ratings(60, 50, 20)
    test = {name: column[::7] for name, column in ratings.items()}
    users, titles = np.unique(ratings["user_id"]), np.unique(ratings["movie_title"])
    fitted = []
    fit = history_retrieval._fit

    def recorded(*args, **kwargs):
        fitted.append(fit(*args, **kwargs))
        return fitted[-1]

    monkeypatch.setattr(history_retrieval, "_fit", recorded)
    config = HistoryConfig(embedding_dim=4, batch_users=8, epoch_users=epoch_users, max_epochs=3, patience=3)
    tables, figures = history_retrieval.train_history_retrieval(ratings, test, users, titles, config, 0, 0)
    assert len(fitted) == fits  # the held-out fit, then (60 users ≤ epoch_users) the refit on every rating
    model, history = fitted[-1]
    np.testing.assert_array_equal(tables.inputs, model.tables().inputs)  # the last fit serves
    assert figures["train_loss"] == pytest.approx(history.history["loss"][figures["epochs"] - 1 if fits == 1 else -1])


def test_the_warm_test_folds_in_a_seeded_sample_of_the_test_users_each_once_from_their_training_ratings() -> None:
    from edge_runtime.contract import RATING_OUTPUT, STATE_OUTPUT
    from interactions import holdout
    from trainer import history
    from trainer.config import HistoryConfig as Config

    rng = np.random.default_rng(0)
    movie_titles = np.array([f"t{n:03d}" for n in range(50)])
    title_rows = np.hstack([rng.uniform(0, 1, (51, 8)), np.ones((51, 1))]).astype(np.float32)
    prior_row = np.append(rng.normal(0, 0.1, 8), 3.5).astype(np.float32)
    retrieval = history_retrieval.RetrievalTables(*(np.zeros((51, 4), np.float32),) * 2, np.zeros(51, np.float32))
    model = history.HistoryModel(history.build_tables(title_rows, prior_row, retrieval, movie_titles, (1.0, 5.0),
                                                      Config(), 0.0))
    ratings = _ratings(10, 50, 30)
    train, test = ({name: column.reshape(10, 30)[:, part].reshape(-1) for name, column in ratings.items()}
                   for part in (slice(0, 20), slice(20, 30)))  # each user: 20 ratings to fold in, 10 to predict

    class Counted:
        def __init__(self) -> None:
            self.history_lengths: list[int] = []

        def personalize(self, titles: tf.Tensor, ratings: tf.Tensor) -> dict[str, tf.Tensor]:
            self.history_lengths.append(len(titles))
            return model.personalize(titles, ratings)

        def score(self, state: tf.Tensor, titles: tf.Tensor) -> dict[str, tf.Tensor]:
            return model.score(state, titles)

    for most in (3, 10):
        counted = Counted()
        rmse = history.warm_rmse(counted, train, test, most, seed=5)
        assert counted.history_lengths == [20] * most  # one fold-in per sampled user, of their 20 training ratings
        sampled = holdout.sample_users(test, most, 5)
        errors = []
        for user in np.unique(sampled["user_id"]):
            mine, theirs = train["user_id"] == user, sampled["user_id"] == user
            state = model.personalize(tf.constant(train["movie_title"][mine]),
                                      tf.constant(train["user_rating"][mine]))[STATE_OUTPUT]
            predicted = model.score(state, tf.constant(sampled["movie_title"][theirs]))[RATING_OUTPUT].numpy()
            errors.append(predicted - sampled["user_rating"][theirs])
        assert rmse == pytest.approx(float(np.sqrt(np.mean(np.square(np.concatenate(errors))))), rel=1e-6)
        assert len(np.concatenate(errors)) == 10 * most


def test_a_history_scorer_keeps_only_the_last_user_s_state() -> None:
    from trainer import scoring

    personalized = []

    def personalize(titles: list[str], ratings: np.ndarray) -> np.ndarray:
        personalized.append(titles[0])
        return np.full(3, float(len(titles)))

    scorer = scoring.history_scorer(personalize, lambda state, titles: state[: len(titles)],
                                    {"a": (["x"], np.ones(1, np.float32)), "b": (["y", "z"], np.ones(2, np.float32))})
    scores = [scorer(user, ["t"]) for user in ("a", "a", "b", "a")]
    assert personalized == ["x", "y", "x"]  # a again after b: folded in again, not kept
    assert [float(score[0]) for score in scores] == [1.0, 1.0, 2.0, 1.0]


def test_the_planted_log_has_the_asked_shape_and_long_tails(tmp_path: Path) -> None:
    users, items, ratings = planted_log.shape(0.01)
    assert (users, items, ratings) == (1_625, 590, 250_001)
    counts = planted_log.user_counts(*planted_log.shape(1))
    assert counts.sum() == planted_log.RATINGS and counts.min() >= planted_log.MIN_USER_RATINGS
    assert counts.max() > 150 * counts.mean()  # MovieLens 25M's heaviest user: 209 times the mean

    written = planted_log.write_planted_log(tmp_path, 0.01, seed=3)
    table = pq.read_table(tmp_path / "ratings.parquet")
    assert written["ratings"] == table.num_rows == ratings
    pairs = table.column("user_id").to_numpy().astype(np.int64) * 10_000 + table.column("item_id").to_numpy()
    assert len(np.unique(pairs)) == ratings  # no user rates an item twice
    stars = table.column("rating").to_numpy()
    assert set(np.unique(stars * 2).astype(int)) <= set(range(1, 11))  # half stars within 0.5-5
    popularity = np.sort(np.bincount(table.column("item_id").to_numpy()))[::-1]
    assert popularity[0] > 5 * np.median(popularity)  # a long tail of items
    truth = planted_log.PlantedTruth.load(tmp_path / "planted.npz")
    users_rows = table.column("user_id").to_numpy() - 1
    item_rows = table.column("item_id").to_numpy() - 1
    # The ratings scatter around the planted ones by the noise (and half-star rounding), no more.
    error = metrics.rmse(truth.ratings(users_rows, item_rows), stars)
    assert 0.6 < error < 0.8


def test_bench_train_scale_reports_every_stage_and_the_planted_ceiling(tmp_path: Path) -> None:
    """``edgerank bench train-scale`` end to end at a small scale: generate, train, convert, eval, report."""
    import json
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "edgerank", "bench", "train-scale", "--scale", "0.003",
                             "--output-dir", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "scale 0.003: 42,944 ratings, 488 users, 177 items" in result.stdout
    [entry] = json.loads((tmp_path / "results.json").read_text())["scales"]
    stages = {stage["stage"]: stage for stage in entry["stages"]}
    assert list(stages) == ["generate", "read", "split", "ranker", "history retrieval", "history model",
                            "server retrieval", "train (whole process)", "convert", "eval"]
    assert all(stage["seconds"] > 0 and stage["ratings_per_second"] > 0 for stage in stages.values())
    # The child's memory, sampled per stage, never above what the kernel says was its peak.
    assert 0 < stages["ranker"]["peak_rss_mb"] <= stages["train (whole process)"]["peak_rss_mb"]
    assert stages["convert"]["peak_rss_mb"] > 0 and entry["peak_rss_mb"] >= stages["ranker"]["peak_rss_mb"]
    quality = entry["quality"]
    device, planted = quality["models"]["history model, int8 on the device"], quality["planted"]
    assert 0 < device["recall_at_20"] <= planted["recall_at_20"] <= 1
    assert quality["history_recall_share_of_planted"] == pytest.approx(device["recall_at_20"] / planted["recall_at_20"])
    assert planted["rmse"] < device["rmse"] < device["training_mean_rmse"]  # learned, and not past the noise
    assert {"popularity", "implicit ALS", "EASE"} <= set(quality["models"])
    assert entry["bundle_bytes"] > 0 and (tmp_path / "train_scale.png").stat().st_size > 10_000
