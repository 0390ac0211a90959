"""The history model's fold-in against exact algebra, from 10 to 2,000 ratings over 10,000 titles.

``personalize`` solves each user's ridge problem by conjugate gradients
unrolled into built-in ops; ``trainer.history.exact_fold_in`` solves the same
problem with NumPy in float64. On AutoRec-like codes (sigmoids of a low-rank
product, 500 units), both must predict the catalogue alike, however long the
history. ``fold_in_gaps`` is the table ``docs/reference.md`` reports.
"""

from __future__ import annotations

import numpy as np
import pytest

TITLES, HIDDEN, RANK = 10_000, 500, 16
HISTORY_LENGTHS = (10, 50, 200, 1000, 2000)
#: Most a predicted rating may differ from the exact solution's, anywhere in the catalogue.
MAX_GAP = 2e-3
#: Most the held-out RMSE may differ from the exact solution's.
MAX_RMSE_GAP = 5e-4


def _tables(ridge_per_rating: float):
    from trainer.config import HistoryConfig
    from trainer.history import build_tables
    from trainer.history_retrieval import RetrievalTables

    rng = np.random.default_rng(0)
    # AutoRec's codes are sigmoids of a title's ratings times the encoder: correlated, in (0, 1).
    codes = 1 / (1 + np.exp(-(rng.normal(0, 1, (TITLES + 1, RANK)) @ rng.normal(0, 0.5, (RANK, HIDDEN))
                              + rng.normal(0, 0.3, (TITLES + 1, HIDDEN)))))
    title_rows = np.hstack([codes, np.ones((TITLES + 1, 1))]).astype(np.float32)
    prior_row = np.append(rng.normal(0, 0.05, HIDDEN), 3.5).astype(np.float32)
    empty = RetrievalTables(np.zeros((TITLES + 1, 4), np.float32), np.zeros((TITLES + 1, 4), np.float32),
                            np.zeros(TITLES + 1, np.float32))
    titles = np.array([f"Title {n}" for n in range(TITLES)])
    return build_tables(title_rows, prior_row, empty, titles, (0.5, 5.0), HistoryConfig(), ridge_per_rating)


def fold_in_gaps(ridge_per_rating: float) -> dict[int, dict[str, float]]:
    """Per history length: the largest and RMS gap between ``personalize``'s catalogue ratings and the exact
    solution's, and the RMSE of each on the user's held-out ratings (a planted user, 0.5 noise)."""
    import tensorflow as tf

    from edge_runtime.contract import STATE_OUTPUT
    from trainer.history import HistoryModel, exact_fold_in

    tables = _tables(ridge_per_rating)
    model = HistoryModel(tables)
    rng = np.random.default_rng(1)
    codes = tables.title_rows.astype(np.float64)
    planted = tables.prior_row + np.append(rng.normal(0, 0.15, HIDDEN), 0.2)
    truth = np.clip(codes @ planted + rng.normal(0, 0.5, TITLES + 1), 0.5, 5.0)
    gaps = {}
    for length in HISTORY_LENGTHS:
        rows = rng.choice(np.arange(1, TITLES + 1), length, replace=False)
        state = model.personalize(tf.constant(tables.titles[rows - 1]), tf.constant(truth[rows], tf.float32))
        solved = state[STATE_OUTPUT].numpy()[: TITLES + 1]
        exact = np.clip(codes @ exact_fold_in(tables.title_rows, tables.prior_row, tables.ridge, ridge_per_rating,
                                              rows, truth[rows]), 0.5, 5.0)
        held_out = np.setdiff1d(np.arange(1, TITLES + 1), rows)
        gaps[length] = {
            "max_gap": float(np.max(np.abs(solved[1:] - exact[1:]))),
            "rms_gap": float(np.sqrt(np.mean(np.square(solved[1:] - exact[1:])))),
            "rmse": float(np.sqrt(np.mean(np.square(solved[held_out] - truth[held_out])))),
            "exact_rmse": float(np.sqrt(np.mean(np.square(exact[held_out] - truth[held_out])))),
        }
    return gaps


@pytest.mark.parametrize("ridge_per_rating", [0.0, 1.0])
def test_personalize_solves_the_ridge_problem_exactly_at_every_history_length(ridge_per_rating: float) -> None:
    gaps = fold_in_gaps(ridge_per_rating)
    for length, figures in gaps.items():
        assert figures["max_gap"] < MAX_GAP, (length, figures)
        assert abs(figures["rmse"] - figures["exact_rmse"]) < MAX_RMSE_GAP, (length, figures)
    # The planted user is learned: a longer history predicts the held-out ratings better.
    assert gaps[2000]["exact_rmse"] < gaps[10]["exact_rmse"]


def test_the_ridge_grows_with_the_history_but_not_on_the_bias() -> None:
    from trainer.history import exact_fold_in

    tables = _tables(0.0)
    rows = np.arange(1, 201)
    ratings = np.full(200, 5.0)
    base = exact_fold_in(tables.title_rows, tables.prior_row, tables.ridge, 0.0, rows, ratings)
    grown = exact_fold_in(tables.title_rows, tables.prior_row, tables.ridge, 10.0, rows, ratings)
    # More pull towards the mean user's row on the codes' weights; the bias still follows the ratings.
    assert np.linalg.norm(grown[:-1] - tables.prior_row[:-1]) < 0.5 * np.linalg.norm(base[:-1] - tables.prior_row[:-1])
    assert grown[-1] > tables.prior_row[-1] + 0.5
