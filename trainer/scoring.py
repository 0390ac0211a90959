"""Scoring (user, title) pairs offline, to compare models on the same test pairs.

Used by the converter's validation, the benchmarks' RMSE and ``edgerank eval``:

* ``score_pairs`` scores pairs with any per-user scorer (``EdgeRanker.score``,
  or a SavedModel wrapped the same way), one call per distinct user: the way a
  device scores, one user against their candidates.
* ``catalogue_scores`` scores every title for some users the same way: what
  the order metrics (``interactions.metrics.order_agreement``) compare.
* ``reference_scores`` keeps what a SavedModel scored, and ``compare`` holds
  another model (a converted one, as the device runs it) against it: error,
  NDCG@10 and order.
* ``saved_model_scorer`` scores pairs through a ranker SavedModel's
  ``serving_default`` signature, in batches: the model's meaning.
* A history model (``trainer.history``) scores a user from their history:
  ``user_histories`` reads each user's ratings from a split, and
  ``history_scorer`` turns ``personalize`` and ``score`` (the SavedModel's or
  the device's) into the same per-user scorer.

``score_pairs`` needs NumPy only; TensorFlow is imported by ``saved_model_scorer``
alone, so benchmark workers on an edge runtime can use the first.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.contract import RATING_OUTPUT, STATE_OUTPUT, TITLE_INPUT, USER_INPUT
from edge_runtime.history import clean_history
from interactions import ids, metrics
from interactions.schema import Columns

#: ``(users, titles) -> ratings``: equal-length sequences of strings in, one float32 rating per pair out.
PairScorer = Callable[[Sequence[str], Sequence[str]], np.ndarray]

#: ``(user, titles) -> ratings``: one user against a list of titles.
UserScorer = Callable[[str, list[str]], np.ndarray]
#: A user's history: the titles they rated and their ratings (float32), in order.
History = tuple[list[str], np.ndarray]

#: Pairs per SavedModel call.
BATCH_SIZE = 4096


def score_pairs(score: UserScorer, users: np.ndarray, titles: np.ndarray) -> np.ndarray:
    """Scores (user, title) pairs with one ``score(user, titles)`` call per distinct user.

    Args:
        score: One user against a list of titles -> one score per title.
        users, titles: Equal-length 1-D string arrays, one pair per row.

    Returns:
        float32 scores in row order.
    """
    scores = np.empty(len(users), dtype=np.float32)
    order = np.argsort(users, kind="stable")
    boundaries = np.flatnonzero(users[order][1:] != users[order][:-1]) + 1
    for rows in np.split(order, boundaries):
        if len(rows):
            scores[rows] = score(str(users[rows[0]]), titles[rows].tolist())
    return scores


def catalogue_scores(score: UserScorer, users: Sequence[str],
                     titles: Sequence[str]) -> np.ndarray:
    """Scores every title for every user, one ``score(user, titles)`` call per user.

    Returns:
        float32 [users, titles].
    """
    titles = list(titles)
    return np.stack([np.asarray(score(str(user), titles), np.float32) for user in users]) if len(users) else \
        np.empty((0, len(titles)), np.float32)


def saved_model_scorer(saved_model: str | os.PathLike[str] | Any) -> PairScorer:
    """A ``PairScorer`` over a ranker SavedModel's ``serving_default`` signature.

    Args:
        saved_model: A SavedModel folder, or a SavedModel already loaded with
            ``tf.saved_model.load``.

    Returns:
        ``score(users, titles)``: float32 ratings, ``BATCH_SIZE`` pairs a call.
    """
    import tensorflow as tf

    if isinstance(saved_model, (str, os.PathLike, Path)):
        saved_model = tf.saved_model.load(os.fspath(saved_model))
    signature = saved_model.signatures["serving_default"]

    def score(users: Sequence[str], titles: Sequence[str]) -> np.ndarray:
        batches = [signature(**{USER_INPUT: tf.constant(users[i : i + BATCH_SIZE]),
                                TITLE_INPUT: tf.constant(titles[i : i + BATCH_SIZE])})[RATING_OUTPUT].numpy()
                   for i in range(0, len(users), BATCH_SIZE)]
        return np.concatenate(batches) if batches else np.empty(0, np.float32)

    return score


def user_histories(ratings: Columns, users: np.ndarray | None = None) -> dict[str, History]:
    """Each user's ratings in ``ratings`` (``user_id``, ``movie_title``, ``user_rating``), in row order.

    A title the user rated twice (MovieLens has distinct movies with the same
    title) counts once, with its last rating: as the device client
    (``edge_runtime.history.clean_history``) does, so both models get the same history.

    ``users``, when given, are the only ones whose histories are built (the test users a scorer will
    see; everyone's took minutes and gigabytes at 25M ratings).
    """
    if users is not None:
        wanted = ids.isin(ratings["user_id"], users)
        ratings = {name: values[wanted] for name, values in ratings.items()}
    histories: dict[str, tuple[list[str], list[float]]] = {}
    for user, title, rating in zip(ratings["user_id"].tolist(), ratings["movie_title"].tolist(),
                                   ratings["user_rating"].tolist()):
        titles, values = histories.setdefault(str(user), ([], []))
        titles.append(str(title))
        values.append(rating)
    return {user: clean_history(zip(titles, values), None) for user, (titles, values) in histories.items()}


def history_scorer(personalize: Callable[[list[str], np.ndarray], Any], score: Callable[[Any, list[str]], np.ndarray],
                   histories: dict[str, History]) -> UserScorer:
    """A per-user scorer for a history model: the user's state from ``histories``, then ``score``.

    Only the last user's state is kept, for calls in a row on the same user (``score_pairs`` makes one per
    user): a state holds a rating per title, so every user's would take 38 GB at MovieLens 25M's size
    (162,541 users × 59,048 floats); kept, they grew a training run to 23 GiB before it was stopped.

    Args:
        personalize: ``(titles, ratings) -> state``.
        score: ``(state, titles) -> ratings``.
        histories: Each user's history (``user_histories``); a user without one gets the empty history.
    """
    last: dict[str, Any] = {}

    def scorer(user: str, titles: list[str]) -> np.ndarray:
        if user not in last:
            last.clear()
            last[user] = personalize(*histories.get(user, ([], np.empty(0, np.float32))))
        return np.asarray(score(last[user], titles), np.float32)

    return scorer


def saved_history_functions(model: Any) -> tuple[Callable[[list[str], np.ndarray], Any],
                                                 Callable[[Any, list[str]], np.ndarray]]:
    """``personalize`` and ``score`` of a history model (``trainer.history.HistoryModel`` or its SavedModel)."""
    import tensorflow as tf

    def personalize(titles: list[str], ratings: np.ndarray) -> Any:
        return model.personalize(tf.constant(titles, tf.string), tf.constant(ratings, tf.float32))[STATE_OUTPUT]

    def score(state: Any, titles: list[str]) -> np.ndarray:
        return model.score(state, tf.constant(titles, tf.string))[RATING_OUTPUT].numpy()

    return personalize, score


def edge_scorer(ranker: Any, histories: dict[str, History] | None = None) -> UserScorer:
    """A per-user scorer over an ``EdgeRanker``: by id, or, for a history model, from ``histories``."""
    if ranker.kind != "history":
        return ranker.score
    return history_scorer(lambda titles, ratings: ranker.personalize(list(zip(titles, ratings.tolist()))),
                          ranker.score, histories or {})


def pair_scorer(score: UserScorer) -> PairScorer:
    """A ``PairScorer`` from a per-user scorer: one call per distinct user (``score_pairs``)."""
    return lambda users, titles: score_pairs(score, np.asarray(users), np.asarray(titles))


@dataclass(frozen=True)
class Reference:
    """What the SavedModel scored, for another model to be held against (``compare``).

    Attributes:
        pairs: Test pairs: ``user_id``, ``movie_title``, ``user_rating``.
        pair_scores: The SavedModel's score of each pair.
        users: The users whose whole catalogue was scored.
        titles: The catalogue.
        catalogue_scores: [users, titles] the SavedModel's scores.
    """

    pairs: Columns
    pair_scores: np.ndarray
    users: list[str]
    titles: list[str]
    catalogue_scores: np.ndarray


def reference_scores(score: PairScorer, pairs: Columns, titles: Sequence[str], users: int, seed: int) -> Reference:
    """Scores the test pairs, and ``users`` users' whole catalogue, with the reference model.

    Args:
        score: The reference model (``saved_model_scorer``, or ``pair_scorer`` of a history model).
        pairs: ``user_id``, ``movie_title`` and ``user_rating`` columns.
        titles: The catalogue.
        users: How many of the pairs' users (a seeded sample; all when fewer) score the catalogue.
        seed: Seeds the sample.
    """
    candidates = np.unique(pairs["user_id"])
    chosen = np.sort(np.random.default_rng(seed).choice(candidates, size=min(users, len(candidates)),
                                                        replace=False)).tolist()
    return Reference(pairs, score(pairs["user_id"], pairs["movie_title"]), chosen, list(titles),
                     catalogue_scores(lambda user, some: score([user] * len(some), some), chosen, titles))


def compare(score: UserScorer, reference: Reference, pair_scores: np.ndarray | None = None) -> dict[str, float | int]:
    """Scores what ``reference`` holds with another model, one user at a time, and compares.

    ``pair_scores``, when given, are ``score``'s scores of ``reference.pairs``, already computed.

    Returns:
        ``pairs``, ``max_abs_diff`` (against the SavedModel, over the pairs),
        ``test_rmse`` and ``saved_model_test_rmse``, ``ndcg_at_10`` and
        ``saved_model_ndcg_at_10`` (``metrics.ndcg_at_k``), ``order_users``,
        ``order_titles`` and ``metrics.order_agreement``'s figures.
    """
    pairs = reference.pairs
    scores = score_pairs(score, pairs["user_id"], pairs["movie_title"]) if pair_scores is None else pair_scores
    return {
        "pairs": len(scores), "max_abs_diff": float(np.max(np.abs(scores - reference.pair_scores))),
        "test_rmse": metrics.rmse(scores, pairs["user_rating"]),
        "saved_model_test_rmse": metrics.rmse(reference.pair_scores, pairs["user_rating"]),
        "ndcg_at_10": metrics.ndcg_at_k(scores, pairs["user_rating"], pairs["user_id"]),
        "saved_model_ndcg_at_10": metrics.ndcg_at_k(reference.pair_scores, pairs["user_rating"], pairs["user_id"]),
        "order_users": len(reference.users), "order_titles": len(reference.titles),
        **metrics.order_agreement(reference.catalogue_scores,
                                  catalogue_scores(score, reference.users, reference.titles)),
    }
