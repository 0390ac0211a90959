"""Offline metrics: rating error, top-k retrieval accuracy, and how well a ranker keeps an order.

Retrieval accuracy follows ``FactorizedTopK``: for each test rating (user,
title), is the title among the user's k best-scored titles? Two protocols:

* ``all``: every catalogue title is a candidate (the TFRS tutorials').
* ``unseen``: titles the user rated in training are removed first (a
  recommender's: nobody is recommended what they already rated).

A ranker is judged by the order it produces, so a converted or quantized model
is compared with its reference user by user over the whole catalogue
(``order_agreement``: distinct scores, top-k overlap, pairs kept in order), and
both rank each user's test titles (``ndcg_at_k``).

Implicit feedback is judged on each user's unseen items (``recall_and_ndcg``,
Mult-VAE's protocol, Liang et al. 2018): the items a user interacted with in
training are left out, the rest ranked, and the top k compared with their
test items. Recall@k is the test items in the top k over ``min(k, test
items)``; NDCG@k sums ``1/log2(rank + 1)`` over the test items in the top k,
over the same sum for a perfect ranking. Both are averaged over users, and
scores come in blocks of users, so a large catalogue never needs a users x
items matrix at once.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: Cut-offs reported for retrieval.
TOP_KS = (1, 10, 50, 100)
#: Cut-offs of the top-k overlap ``order_agreement`` reports.
OVERLAP_KS = (10, 100)
#: The figures ``order_agreement`` returns.
ORDER_FIGURES = ("distinct_scores", "top_10_overlap", "top_100_overlap", "pair_agreement")
#: Titles per user that ``order_agreement`` compares pairwise; larger catalogues are sampled to this many.
MAX_PAIRWISE_TITLES = 4096


def rmse(predictions: np.ndarray, ratings: np.ndarray) -> float:
    """Root mean squared error."""
    return float(np.sqrt(np.mean((np.asarray(predictions, np.float64) - ratings) ** 2)))


#: Buckets of users by their number of training ratings: (name, fewest, most or ``None``).
HISTORY_BUCKETS = (("under 50", 0, 49), ("50-199", 50, 199), ("200 or more", 200, None))


def rmse_by_history_length(predictions: np.ndarray, ratings: np.ndarray,
                           history_lengths: np.ndarray) -> dict[str, dict[str, float | int]]:
    """RMSE of test pairs grouped by how many training ratings their user has (``HISTORY_BUCKETS``).

    Args:
        predictions, ratings: One row per test pair.
        history_lengths: One row per test pair: its user's number of training ratings.

    Returns:
        ``{bucket: {"rmse": …, "pairs": …}}`` for each bucket that has test pairs.
    """
    result = {}
    for name, fewest, most in HISTORY_BUCKETS:
        chosen = (history_lengths >= fewest) & (history_lengths <= (np.inf if most is None else most))
        if chosen.any():
            result[name] = {"rmse": rmse(predictions[chosen], ratings[chosen]), "pairs": int(chosen.sum())}
    return result


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
        ``{"top_1": …, "top_10": …, …}``. Ties count against the test title. Test ratings of a user or title
        outside ``scores`` (row or column -1: new users of the users split) are left out.
    """
    return top_k_shares(test_ranks(scores, test_rows, test_columns, seen, max(ks)), ks)


def test_ranks(scores: np.ndarray, test_rows: np.ndarray, test_columns: np.ndarray,
               seen: list[np.ndarray] | None = None, most: int = max(TOP_KS)) -> np.ndarray:
    """Each test rating's rank among its user's scores (0: the best), capped at ``most``.

    What ``top_k_accuracy`` counts, for a block of users at a time (``top_k_shares`` of the concatenated ranks
    gives the same figures). Arguments as ``top_k_accuracy``; ties count against the test title, and test
    ratings with row or column -1 are left out.

    Returns:
        int64 ranks of the known test ratings, in order; ``most`` stands for ``most`` or worse.
    """
    known = (np.asarray(test_rows) >= 0) & (np.asarray(test_columns) >= 0)
    test_rows, test_columns = np.asarray(test_rows)[known], np.asarray(test_columns)[known]
    scores = np.array(scores, dtype=np.float64, copy=True)
    if seen is not None:
        for row, columns in enumerate(seen):
            scores[row, columns] = -np.inf
    target = scores[test_rows, test_columns]
    # The best most + 1 scores of each user: a rank below ``most`` is counted among them alone.
    kept = min(most + 1, scores.shape[1])
    best = np.partition(scores, scores.shape[1] - kept, axis=1)[:, scores.shape[1] - kept:]
    counted = (best[test_rows] >= target[:, None]).sum(axis=1) - 1
    inside = (target > best.min(axis=1)[test_rows]) | (kept == scores.shape[1])
    return np.where(inside, np.minimum(counted, most), most).astype(np.int64)


def top_k_shares(ranks: np.ndarray, ks: tuple[int, ...] = TOP_KS) -> dict[str, float]:
    """``{"top_k": share of ranks below k}`` for each cut-off (``test_ranks``'s cap at least the largest)."""
    return {f"top_{k}": float(np.mean(ranks < k)) for k in ks}


def order_agreement(reference: np.ndarray, scores: np.ndarray, seed: int = 0) -> dict[str, float]:
    """How well ``scores`` keep the order ``reference`` gives each user's titles.

    Args:
        reference: [users, titles] reference scores (the float32 SavedModel's).
        scores: [users, titles] the same users and titles, scored by the model under test.
        seed: Seeds the title sample for catalogues over ``MAX_PAIRWISE_TITLES``.

    Returns:
        ``distinct_scores``: the median number of distinct scores a user's titles get;
        ``top_10_overlap``, ``top_100_overlap``: the mean share of the reference's
        top k that the model's top k holds; ``pair_agreement``: the mean share of
        title pairs that the reference orders strictly and the model orders the
        same way, a tie in the model counting half (over a seeded sample of
        ``MAX_PAIRWISE_TITLES`` titles per user when the catalogue is larger).
    """
    reference, scores = np.asarray(reference, np.float64), np.asarray(scores, np.float64)
    rng = np.random.default_rng(seed)
    distinct, agreement, overlaps = [], [], {k: [] for k in OVERLAP_KS}
    for ref, got in zip(reference, scores):
        distinct.append(len(np.unique(got)))
        for k in OVERLAP_KS:
            best = np.argsort(-ref, kind="stable")[:k]
            overlaps[k].append(len(np.intersect1d(best, np.argsort(-got, kind="stable")[:k])) / len(best))
        if len(ref) > MAX_PAIRWISE_TITLES:
            sample = rng.choice(len(ref), MAX_PAIRWISE_TITLES, replace=False)
            ref, got = ref[sample], got[sample]
        agreement.append(_pair_agreement(ref, got))
    return {"distinct_scores": float(np.median(distinct)),
            **{f"top_{k}_overlap": float(np.mean(overlaps[k])) for k in OVERLAP_KS},
            "pair_agreement": float(np.mean(agreement))}


def _pair_agreement(reference: np.ndarray, scores: np.ndarray, block: int = 256) -> float:
    """Share of the pairs ``reference`` orders strictly that ``scores`` order alike (ties: half)."""
    order = np.argsort(reference, kind="stable")
    reference, scores = reference[order], scores[order]
    agree = total = 0.0
    for start in range(0, len(reference), block):
        # Rows i in this block against every later j: i < j in reference order.
        rows = np.arange(start, min(start + block, len(reference)))
        later = np.arange(len(reference))[None, :] > rows[:, None]
        strict = later & (reference[None, :] > reference[rows, None])
        agree += np.sum(strict & (scores[None, :] > scores[rows, None])) + 0.5 * np.sum(
            strict & (scores[None, :] == scores[rows, None]))
        total += np.sum(strict)
    return agree / total if total else 1.0


def ndcg_at_k(scores: np.ndarray, ratings: np.ndarray, users: np.ndarray, k: int = 10) -> float:
    """Mean NDCG@k of each user's rated titles ranked by ``scores``, with the rating as the gain.

    Args:
        scores, ratings, users: One row per (user, title) test pair: the model's
            score, the user's rating, the user.
        k: Cut-off.

    Returns:
        The mean over users of DCG@k / ideal DCG@k, where DCG sums
        ``rating / log2(rank + 1)`` over the top k (ties in ``scores`` keep the
        pairs' order).
    """
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    values = []
    order = np.argsort(users, kind="stable")
    boundaries = np.flatnonzero(users[order][1:] != users[order][:-1]) + 1
    for rows in np.split(order, boundaries):
        gains = np.asarray(ratings[rows], np.float64)
        ranked = gains[np.argsort(-np.asarray(scores[rows], np.float64), kind="stable")][:k]
        ideal = np.sort(gains)[::-1][:k]
        values.append(float(ranked @ discounts[: len(ranked)] / (ideal @ discounts[: len(ideal)])))
    return float(np.mean(values))


def unseen_top_k(scores: np.ndarray, seen: list[np.ndarray], k: int) -> np.ndarray:
    """[users, items] scores -> [users, k] item positions, best first, each user's ``seen`` items left out."""
    scores = np.array(scores, dtype=np.float64)
    for row, items in enumerate(seen):
        scores[row, items] = -np.inf
    k = min(k, scores.shape[1])
    best = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, best, axis=1), axis=1, kind="stable")
    return np.take_along_axis(best, order, axis=1)


def recall_and_ndcg(score_block: Callable[[np.ndarray], np.ndarray], seen: list[np.ndarray],
                    test: list[np.ndarray], k: int = 20, block: int = 256) -> dict[str, float]:
    """Mean recall@k and NDCG@k over the users with test items.

    Args:
        score_block: User positions [B] -> their scores [B, items].
        seen: Per user, the item positions they interacted with in training (left out of the ranking).
        test: Per user, their test item positions.
        k: The cut-off.
        block: Users scored at a time.

    Returns:
        ``{"recall_at_{k}", "ndcg_at_{k}", "users"}``.
    """
    users = np.array([user for user, items in enumerate(test) if len(items)])
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    recall = ndcg = 0.0
    for start in range(0, len(users), block):
        batch = users[start:start + block]
        top = unseen_top_k(score_block(batch), [seen[user] for user in batch], k)
        for row, user in enumerate(batch):
            hits = np.isin(top[row], test[user])
            best = min(k, len(test[user]))
            recall += hits.sum() / best
            ndcg += (hits * discounts[:len(hits)]).sum() / discounts[:best].sum()
    count = max(len(users), 1)
    return {f"recall_at_{k}": recall / count, f"ndcg_at_{k}": ndcg / count, "users": int(len(users))}
