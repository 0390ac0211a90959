"""Offline metrics: rating error and top-k retrieval accuracy under two protocols.

Retrieval accuracy follows ``FactorizedTopK``: for each test rating (user,
title), is the title among the user's k best-scored titles? Two protocols:

* ``all``: every catalogue title is a candidate (the TFRS tutorials').
* ``unseen``: titles the user rated in training are removed first (a
  recommender's: nobody is recommended what they already rated).
"""

from __future__ import annotations

import numpy as np

#: Cut-offs reported for retrieval.
TOP_KS = (1, 10, 50, 100)


def rmse(predictions: np.ndarray, ratings: np.ndarray) -> float:
    """Root mean squared error."""
    return float(np.sqrt(np.mean((np.asarray(predictions, np.float64) - ratings) ** 2)))


def top_k_accuracy(scores: np.ndarray, test_rows: np.ndarray, test_columns: np.ndarray,
                   seen: list[np.ndarray] | None = None, ks: tuple[int, ...] = TOP_KS) -> dict[str, float]:
    """Share of test ratings whose title ranks within the user's top k.

    Args:
        scores: [users, titles] scores, higher is better (rows of the users in ``test_rows``).
        test_rows, test_columns: Each test rating's user row and title column.
        seen: Per user row, the title columns rated in training; they are
            excluded (the ``unseen`` protocol). ``None`` keeps every title.
        ks: Cut-offs.

    Returns:
        ``{"top_1": …, "top_10": …, …}``. Ties count against the test title.
    """
    scores = np.array(scores, dtype=np.float64, copy=True)
    if seen is not None:
        for row, columns in enumerate(seen):
            scores[row, columns] = -np.inf
    target = scores[test_rows, test_columns]
    rank = np.empty(len(test_rows), dtype=np.int64)
    for row in np.unique(test_rows):
        mine = test_rows == row
        rank[mine] = (scores[row][None, :] >= target[mine][:, None]).sum(axis=1) - 1
    return {f"top_{k}": float(np.mean(rank < k)) for k in ks}
