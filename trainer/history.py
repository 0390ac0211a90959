"""The history-based device model: the user's own ratings in, no user id anywhere.

One model, three signatures (the device contract's ``HISTORY_*`` names in
``edge_runtime.contract``):

* ``personalize(history_titles [H], history_ratings [H]) -> user_state [S],
  history_known [H]``: runs once per history change; the device keeps the state.
* ``score(user_state [S], movie_title [N]) -> rating [N], title_known [N]``:
  predicted ratings of candidates, per request: a lookup in the state.
* ``recommend(user_state [S], exclude_titles [E]) -> titles [K], scores [K]``:
  the catalogue's top K (``recommend_k``, fixed in the model) by the retrieval
  score, ``exclude_titles`` (the rated ones) left out.

The state is ``[predicted rating per title (titles + 1) | retrieval vector (dim)]``:

* Ranking is AutoRec fold-in (``trainer.autorec``). A user's decoder row ``w``
  (with its bias) minimises what training minimises for that row, with the
  L2 penalty pulling towards the mean user's row ``w̄`` instead of zero:
  ``Σ_h (r_h - c_h·w)² + λ_n‖w - w̄‖²`` over the history's ``n`` title codes
  ``c_h``, where ``λ_n = ridge + ridge_per_rating · n`` (the bias has its own,
  fixed λ). Training's λ alone lets a long history overfit the 500-dimensional
  row (the trained rows are held back by early stopping, which fold-in has
  no equivalent of), so λ grows with the history at a rate chosen on the
  validation split (``choose_ridge_per_rating``).
  An empty history gets ``w̄``: the average user's predictions. The ridge
  system is solved inside the model by ``solver_iterations`` steps of
  Jacobi-preconditioned conjugate gradients, unrolled into built-in ops
  (TFLite has no linear solver), so Android runs it through the same signature.
  ``personalize`` then rates the whole catalogue with that row (one
  matrix-vector product, out-of-vocabulary title first), so ``score`` only
  looks its candidates up: a request costs a string lookup per title, not a
  dot product over the code.
* Retrieval pools the history's title embeddings (``trainer.history_retrieval``)
  and scores the catalogue's output embeddings with one dense layer.

Unknown history titles are ignored (``history_known`` names them); the file
holds tables with one row per title and nothing per user, so its size depends
on the catalogue alone.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from edge_runtime.contract import (EXCLUDE_INPUT, EXCLUDED_SCORE, HISTORY_KNOWN_OUTPUT, HISTORY_RATINGS_INPUT,
                                   HISTORY_TITLES_INPUT, PERSONALIZE_SIGNATURE, RATING_OUTPUT,
                                   RECOMMEND_SIGNATURE, RETRIEVAL_SCORES_OUTPUT, RETRIEVED_TITLES_OUTPUT, SIGNATURE,
                                   STATE_INPUT, STATE_OUTPUT, TITLE_INPUT, TITLE_KNOWN_OUTPUT)
from interactions import holdout, ids, metrics
from trainer import data, scoring
from trainer.autorec import HeldOutFit
from trainer.config import HistoryConfig
from interactions.schema import Columns
from trainer.history_retrieval import RetrievalTables

#: Most users ``choose_ridge_per_rating`` folds in (one exact solve per user and candidate).
CHOICE_USERS = 400
#: The fold-in solve stops once its preconditioned squared residual falls below this share of the first.
CONVERGED = 1e-8


@dataclass(frozen=True)
class HistoryTables:
    """Everything the history model holds, one row per title (row 0: out of vocabulary).

    Attributes:
        titles: The catalogue, in vocabulary order (without the out-of-vocabulary row).
        title_rows: [titles + 1, hidden + 1] AutoRec codes, centred on their catalogue mean, with a trailing 1.
        prior_row: [hidden + 1] the mean user's decoder row and bias, what fold-in starts from.
        ridge: [hidden + 1] λ per row entry (the last one is the bias's).
        ridge_per_rating: How much λ grows per known history title (the bias's λ does not).
        retrieval_inputs: [titles + 1, dim] embeddings the history is pooled from.
        retrieval_outputs: [titles + 1, dim] embeddings the pooled vector scores.
        retrieval_bias: [titles + 1] each title's retrieval score offset.
        rating_range: Predictions are clipped to the data's rating scale.
        solver_iterations: Conjugate-gradient steps of the fold-in solve.
        recommend_k: Titles ``recommend`` returns (at most the catalogue).
    """

    titles: np.ndarray
    title_rows: np.ndarray
    prior_row: np.ndarray
    ridge: np.ndarray
    ridge_per_rating: float
    retrieval_inputs: np.ndarray
    retrieval_outputs: np.ndarray
    retrieval_bias: np.ndarray
    rating_range: tuple[float, float]
    solver_iterations: int
    recommend_k: int

    def architecture(self) -> dict:
        """What the manifest records: sizes only, none of them the number of users."""
        return {"model": "history", "ranking": "autorec_fold_in", "title_vocabulary": len(self.titles),
                "title_embedding": int(self.title_rows.shape[1]), "retrieval_embedding":
                int(self.retrieval_inputs.shape[1]), "state_size": self.state_size,
                "solver_iterations": self.solver_iterations, "ridge_per_rating": self.ridge_per_rating,
                "recommend_k": self.recommend_k,
                "rating_range": list(self.rating_range), "dense": []}

    @property
    def state_size(self) -> int:
        """Floats in ``user_state``: a predicted rating per title (out of vocabulary too) and the retrieval vector."""
        return int(self.title_rows.shape[0] + self.retrieval_inputs.shape[1])


class HistoryModel(tf.Module):
    """The three signatures over ``HistoryTables`` (see the module docstring)."""

    def __init__(self, tables: HistoryTables) -> None:
        super().__init__()
        self.tables = tables
        self.title_lookup = tf.keras.layers.StringLookup(vocabulary=tables.titles, mask_token=None)
        self.title_rows = tf.constant(tables.title_rows, tf.float32)
        self.prior_row = tf.constant(tables.prior_row[None, :], tf.float32)
        self.ridge = tf.constant(tables.ridge[None, :], tf.float32)
        self.ridge_growth = tf.constant(ridge_growth(len(tables.ridge), tables.ridge_per_rating)[None, :], tf.float32)
        self.retrieval_inputs = tf.constant(tables.retrieval_inputs, tf.float32)
        self.retrieval_outputs = tf.constant(tables.retrieval_outputs, tf.float32)
        self.retrieval_bias = tf.constant(tables.retrieval_bias[None, :], tf.float32)
        self.vocabulary = tf.constant(np.concatenate([[""], tables.titles]).astype(object))
        self.ratings_size = int(tables.title_rows.shape[0])  # the state's ratings: one per title row
        self.low, self.high = (float(bound) for bound in tables.rating_range)
        # Every title row but the out-of-vocabulary one is a retrieval candidate.
        self.unknown_row = tf.constant(np.eye(1, len(tables.titles) + 1, dtype=np.float32))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=HISTORY_TITLES_INPUT),
                                  tf.TensorSpec([None], tf.float32, name=HISTORY_RATINGS_INPUT)])
    def personalize(self, history_titles: tf.Tensor, history_ratings: tf.Tensor) -> dict[str, tf.Tensor]:
        index = self.title_lookup(history_titles)
        # One padding entry (out of vocabulary, weight 0), so an empty history is no empty tensor.
        padded = tf.concat([index, tf.zeros([1], index.dtype)], 0)
        known = tf.cast(padded > 0, tf.float32)[:, None]                         # [H + 1, 1]
        ratings = tf.concat([history_ratings, tf.zeros([1])], 0)[:, None]        # [H + 1, 1]
        codes = tf.gather(self.title_rows, padded) * known                       # [H + 1, R]

        ridge = self.ridge + self.ridge_growth * tf.reduce_sum(known)             # λ_n: [1, R]

        # Products with the codes as broadcast multiplies and sums: TFLite's matmul kernels repack a
        # weight matrix that changes every call, which made each solver step several times slower.
        def times_codes(row: tf.Tensor) -> tf.Tensor:                            # C w: [1, R] -> [H + 1, 1]
            return tf.reduce_sum(codes * row, 1, keepdims=True)

        def times_codes_t(column: tf.Tensor) -> tf.Tensor:                       # C^T v: [H + 1, 1] -> [1, R]
            return tf.reduce_sum(codes * column, 0, keepdims=True)

        def gram(direction: tf.Tensor) -> tf.Tensor:                             # (C^T C + Λ) d: [1, R] -> [1, R]
            return times_codes_t(times_codes(direction)) + ridge * direction

        residual = times_codes_t(ratings - times_codes(self.prior_row))          # C^T (r - C w̄)
        inverse_diagonal = 1.0 / (tf.reduce_sum(codes * codes, 0, keepdims=True) + ridge)
        step = tf.zeros_like(residual)
        preconditioned = inverse_diagonal * residual
        direction = preconditioned
        energy = tf.reduce_sum(residual * preconditioned)
        # Once the residual is this small, the steps stop: further ones would only add rounding noise.
        converged = energy * CONVERGED
        for _ in range(self.tables.solver_iterations):
            image = gram(direction)
            active = energy > converged
            alpha = tf.where(active, energy / tf.maximum(tf.reduce_sum(direction * image), 1e-30), 0.0)
            step += alpha * direction
            residual -= alpha * image
            preconditioned = inverse_diagonal * residual
            new_energy = tf.reduce_sum(residual * preconditioned)
            direction = preconditioned + tf.where(active, new_energy / tf.maximum(energy, 1e-30), 0.0) * direction
            energy = new_energy
        ranking_row = self.prior_row + step
        # The whole catalogue's ratings, so that score is a lookup: [1, titles + 1]. The table is a constant
        # weight here, which the kernels pack once.
        ratings = tf.clip_by_value(tf.matmul(ranking_row, self.title_rows, transpose_b=True), self.low, self.high)

        pooled = tf.reduce_sum(tf.gather(self.retrieval_inputs, padded) * known, 0, keepdims=True)
        pooled /= tf.sqrt(tf.maximum(tf.reduce_sum(known), 1.0))
        return {STATE_OUTPUT: tf.reshape(tf.concat([ratings, pooled], 1), [-1]),
                HISTORY_KNOWN_OUTPUT: index > 0}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name=STATE_INPUT),
                                  tf.TensorSpec([None], tf.string, name=TITLE_INPUT)])
    def score(self, user_state: tf.Tensor, movie_title: tf.Tensor) -> dict[str, tf.Tensor]:
        index = self.title_lookup(movie_title)  # < titles + 1: within the state's ratings
        return {RATING_OUTPUT: tf.gather(user_state, index), TITLE_KNOWN_OUTPUT: index > 0}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name=STATE_INPUT),
                                  tf.TensorSpec([None], tf.string, name=EXCLUDE_INPUT)])
    def recommend(self, user_state: tf.Tensor, exclude_titles: tf.Tensor) -> dict[str, tf.Tensor]:
        vector = user_state[None, self.ratings_size:]
        scores = tf.matmul(vector, self.retrieval_outputs, transpose_b=True) + self.retrieval_bias
        index = tf.cast(self.title_lookup(exclude_titles), tf.int32)
        excluded = tf.scatter_nd(index[:, None], tf.ones_like(index, tf.float32),
                                 tf.shape(self.retrieval_bias)[1:])[None, :] + self.unknown_row
        scores = tf.where(excluded > 0, tf.fill(tf.shape(scores), EXCLUDED_SCORE), scores)
        best, positions = tf.math.top_k(tf.reshape(scores, [-1]), k=self.tables.recommend_k)
        return {RETRIEVED_TITLES_OUTPUT: tf.gather(self.vocabulary, positions), RETRIEVAL_SCORES_OUTPUT: best}


def export_history(model: HistoryModel, path: str | os.PathLike[str]) -> None:
    """Saves the history model as a SavedModel with its three signatures."""
    tf.saved_model.save(model, os.fspath(path), signatures={
        PERSONALIZE_SIGNATURE: model.personalize, SIGNATURE: model.score, RECOMMEND_SIGNATURE: model.recommend})


def build_tables(title_rows: np.ndarray, prior_row: np.ndarray, retrieval: RetrievalTables, movie_titles: np.ndarray,
                 rating_range: tuple[float, float], config: HistoryConfig, ridge_per_rating: float) -> HistoryTables:
    """The history model's tables from AutoRec's serving tables and the history retrieval model.

    Args:
        title_rows: AutoRec's ``[code, 1]`` title rows, out-of-vocabulary row first.
        prior_row: The mean user's ``[W[:, u], c_u]`` row (row 0 of AutoRec's user rows).
        retrieval: ``trainer.history_retrieval``'s tables.
        movie_titles: The catalogue.
        rating_range: The data's rating scale.
        config: ``ridge``, ``bias_ridge``, ``solver_iterations`` and ``recommend_k``.
        ridge_per_rating: λ's growth per history rating (``choose_ridge_per_rating``).
    """
    centred, prior = _centred(title_rows, prior_row)
    return HistoryTables(np.asarray(movie_titles).astype(str), centred.astype(np.float32),
                         prior.astype(np.float32), _ridge(centred.shape[1], config), float(ridge_per_rating),
                         retrieval.inputs, retrieval.outputs, retrieval.bias, rating_range,
                         config.solver_iterations, min(config.recommend_k, len(movie_titles)))


def _centred(title_rows: np.ndarray, prior_row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Title rows with their codes centred on the catalogue mean, and the prior row that predicts the same.

    Sigmoid codes all lean the same way, so raw ones are nearly collinear with
    the bias column and the float32 solve would be ill-conditioned; the bias
    absorbs their mean. Float64.
    """
    mean_code = title_rows[1:, :-1].mean(axis=0)
    centred, prior = title_rows.astype(np.float64), prior_row.astype(np.float64)
    centred[:, :-1] -= mean_code
    prior[-1] += prior_row[:-1] @ mean_code  # the same predictions for the mean user
    return centred, prior


def ridge_growth(size: int, ridge_per_rating: float) -> np.ndarray:
    """[size] how much each row entry's λ grows per history rating: ``ridge_per_rating``, but 0 for the bias."""
    growth = np.full(size, ridge_per_rating, np.float64)
    growth[-1] = 0.0
    return growth


def _ridge(size: int, config: HistoryConfig) -> np.ndarray:
    ridge = np.full(size, config.ridge, np.float32)
    ridge[-1] = config.bias_ridge
    return ridge


def exact_fold_in(title_rows: np.ndarray, prior_row: np.ndarray, ridge: np.ndarray, ridge_per_rating: float,
                  rows: np.ndarray, ratings: np.ndarray) -> np.ndarray:
    """NumPy's float64 solution of the fold-in's ridge problem (what ``personalize`` solves iteratively).

    Args:
        title_rows, prior_row: Centred tables (``HistoryTables.title_rows`` and ``prior_row``).
        ridge: [hidden + 1] λ per row entry; ``ridge_per_rating`` its growth per rating (not the bias's).
        rows: [n] the history's rows in ``title_rows``; ``ratings``: [n] their ratings.

    Returns:
        [hidden + 1] the user's decoder row and bias.
    """
    return exact_fold_ins(title_rows, prior_row, ridge, (ridge_per_rating,), rows, ratings)[0]


def exact_fold_ins(title_rows: np.ndarray, prior_row: np.ndarray, ridge: np.ndarray, rates: Sequence[float],
                   rows: np.ndarray, ratings: np.ndarray) -> list[np.ndarray]:
    """``exact_fold_in`` for each λ growth in ``rates``, the history's Gram matrix formed once."""
    codes = title_rows[rows].astype(np.float64)
    prior = prior_row.astype(np.float64)
    gram = codes.T @ codes
    right = codes.T @ (np.asarray(ratings, np.float64) - codes @ prior)
    penalties = [ridge.astype(np.float64) + len(rows) * ridge_growth(len(ridge), rate) for rate in rates]
    return [prior + np.linalg.solve(gram + np.diag(penalty), right) for penalty in penalties]


def choose_ridge_per_rating(fit: HeldOutFit, movie_titles: np.ndarray, rating_range: tuple[float, float],
                            config: HistoryConfig, seed: int) -> tuple[float, dict[str, float]]:
    """Picks λ's growth per history rating (``config.ridge_per_rating``) on AutoRec's validation split.

    Each user's training ratings outside ``fit.held_out`` are folded in exactly
    (``exact_fold_in``) into the codes of the AutoRec fitted on them alone,
    for each candidate, and their held-out ratings predicted: the
    codes never saw what they predict. At most ``CHOICE_USERS`` users, drawn
    with ``seed``, take part.

    Args:
        fit: ``AutoRecRanker.held_out_fit``.
        movie_titles: The catalogue, in the title rows' order (after row 0).
        rating_range: Predictions are clipped to it.
        config: ``ridge``, ``bias_ridge`` and the candidates ``ridge_per_rating``.
        seed: Draws the users.

    Returns:
        The candidate with the lowest validation RMSE, and each candidate's RMSE (keys as strings).
    """
    centred, prior = _centred(fit.title_rows, fit.prior_row)
    ridge = _ridge(centred.shape[1], config)
    position = {title: row + 1 for row, title in enumerate(np.asarray(movie_titles).astype(str).tolist())}
    train_users = fit.train["user_id"]
    users = np.intersect1d(ids.distinct(train_users, ~fit.held_out), ids.distinct(train_users, fit.held_out))
    users = np.random.default_rng(seed).permutation(users)[:CHOICE_USERS]
    # Only the drawn users' histories (everyone's, at 25M ratings, took minutes and gigabytes).
    drawn = ids.isin(train_users, users)
    histories, wanted = (scoring.user_histories(data.rows(fit.train, drawn & part))
                         for part in (~fit.held_out, fit.held_out))
    users = users.tolist()
    errors: dict[float, list[np.ndarray]] = {candidate: [] for candidate in config.ridge_per_rating}
    for user in users:
        titles, ratings = histories[user]
        rows = np.array([position[title] for title in titles])
        target_titles, target_ratings = wanted[user]
        target_rows = centred[[position[title] for title in target_titles]]
        for candidate, row in zip(errors, exact_fold_ins(centred, prior, ridge, list(errors), rows, ratings)):
            errors[candidate].append(np.clip(target_rows @ row, *rating_range) - target_ratings)
    rmse = {str(candidate): float(np.sqrt(np.mean(np.square(np.concatenate(values)))))
            for candidate, values in errors.items()}
    best = min(errors, key=lambda candidate: rmse[str(candidate)])
    return float(best), rmse


def warm_rmse(model: HistoryModel, train: Columns, test: Columns, users: int, seed: int) -> float:
    """Test RMSE with each user's training ratings as their history (the warm-user protocol).

    Args:
        model: The history model; ``personalize`` runs once per test user.
        train, test: Rating columns ``user_id``, ``movie_title``, ``user_rating``: the histories and the pairs.
        users: Past this many test users, a sample of them drawn with ``seed`` (``holdout.sample_users``):
            162,541 users took over 20 minutes.
        seed: Draws the sample.
    """
    test = holdout.sample_users(test, users, seed)
    scorer = scoring.history_scorer(*scoring.saved_history_functions(model),
                                    scoring.user_histories(train, test["user_id"]))
    predicted = scoring.score_pairs(scorer, test["user_id"], test["movie_title"])
    return metrics.rmse(predicted, test["user_rating"])
