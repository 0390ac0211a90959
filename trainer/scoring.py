"""Scoring (user, title) pairs offline, to compare models on the same test pairs.

Two helpers, used by the converter's validation, the benchmarks' RMSE and
``edgerank eval``:

* ``score_pairs`` scores pairs with any per-user scorer (``EdgeRanker.score``,
  or a SavedModel wrapped the same way), one call per distinct user: the way a
  device scores, one user against their candidates.
* ``saved_model_scorer`` scores pairs through a ranker SavedModel's
  ``serving_default`` signature, in batches: the model's meaning.

``score_pairs`` needs NumPy only; TensorFlow is imported by ``saved_model_scorer``
alone, so benchmark workers on an edge runtime can use the first.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.contract import RATING_OUTPUT, TITLE_INPUT, USER_INPUT

#: ``(users, titles) -> ratings``: equal-length sequences of strings in, one float32 rating per pair out.
PairScorer = Callable[[Sequence[str], Sequence[str]], np.ndarray]

#: Pairs per SavedModel call.
BATCH_SIZE = 4096


def score_pairs(score: Callable[[str, list[str]], np.ndarray], users: np.ndarray, titles: np.ndarray) -> np.ndarray:
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
