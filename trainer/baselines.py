"""Classic baselines the EdgeRank models are measured against (NumPy only).

Rating prediction:

* ``GlobalMean``: every rating is the training mean.
* ``Biases``: mean + user bias + item bias, regularised, fitted by
  alternating least squares.
* ``BiasedMF``: biases plus a rank-``factors`` product, fitted by alternating
  least squares on the observed ratings (explicit matrix factorisation).

Retrieval (scores over every title, higher is better):

* ``Popularity``: the number of training ratings of each title, for everyone.
* ``ImplicitALS``: implicit-feedback matrix factorisation (Hu, Koren and
  Volinsky 2008) on who rated what, with confidence ``1 + alpha``.

Every model is built on an ``Index`` of user ids and titles, so scores are
rows and columns of one [users, titles] matrix; unknown ids get the training
mean (ratings) or zero (scores).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interactions import ids
from interactions.schema import Columns


@dataclass(frozen=True)
class Index:
    """User ids and titles, each mapped to a row or column."""

    users: np.ndarray
    titles: np.ndarray

    def rows(self, user_ids: np.ndarray) -> np.ndarray:
        """Row of each user id; -1 for an unknown one."""
        return ids.positions(self.users, user_ids)

    def columns(self, titles: np.ndarray) -> np.ndarray:
        """Column of each title; -1 for an unknown one."""
        return ids.positions(self.titles, titles)

    def cells(self, ratings: Columns, which: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(rows, columns, float64 ratings)`` of the ratings whose user and title are both known.

        ``which`` (a boolean mask over the rows), when given, keeps only those rows: a part of a split without
        copying its columns first (at 20M ratings the copies took a gigabyte).
        """
        rows, columns = self.rows(ratings["user_id"]), self.columns(ratings["movie_title"])
        known = (rows >= 0) & (columns >= 0)
        if which is not None:
            known &= which
        return rows[known], columns[known], ratings["user_rating"][known].astype(np.float64)


class GlobalMean:
    """Predicts the training mean."""

    name = "global mean"

    def __init__(self, index: Index) -> None:
        self.index, self.mean = index, 0.0

    def fit(self, train: Columns) -> GlobalMean:
        self.mean = float(np.mean(train["user_rating"]))
        return self

    def predict(self, user_ids: np.ndarray, titles: np.ndarray) -> np.ndarray:
        return np.full(len(user_ids), self.mean)


class Biases:
    """Mean + user bias + item bias, L2-regularised (``user_reg``, ``item_reg``)."""

    name = "user/item biases"

    def __init__(self, index: Index, user_reg: float = 10.0, item_reg: float = 25.0, iterations: int = 10) -> None:
        self.index, self.user_reg, self.item_reg, self.iterations = index, user_reg, item_reg, iterations
        self.mean, self.user_bias, self.item_bias = 0.0, np.zeros(len(index.users)), np.zeros(len(index.titles))

    def fit(self, train: Columns) -> Biases:
        rows, columns, ratings = self.index.cells(train)
        users, titles = len(self.index.users), len(self.index.titles)
        self.mean = float(ratings.mean())
        user_count, item_count = np.bincount(rows, minlength=users), np.bincount(columns, minlength=titles)
        for _ in range(self.iterations):
            residual = ratings - self.mean - self.user_bias[rows]
            self.item_bias = np.bincount(columns, residual, titles) / (item_count + self.item_reg)
            residual = ratings - self.mean - self.item_bias[columns]
            self.user_bias = np.bincount(rows, residual, users) / (user_count + self.user_reg)
        return self

    def predict(self, user_ids: np.ndarray, titles: np.ndarray) -> np.ndarray:
        rows, columns = self.index.rows(user_ids), self.index.columns(titles)
        return (self.mean + np.where(rows >= 0, self.user_bias[rows], 0.0)
                + np.where(columns >= 0, self.item_bias[columns], 0.0))


class BiasedMF(Biases):
    """Biases plus user and item factors, fitted by alternating least squares (``reg`` on the factors)."""

    name = "biased MF (ALS)"

    def __init__(self, index: Index, factors: int = 10, reg: float = 10.0, iterations: int = 15,
                 seed: int = 42) -> None:
        super().__init__(index)
        self.factors, self.reg, self.als_iterations, self.seed = factors, reg, iterations, seed

    def fit(self, train: Columns) -> BiasedMF:
        super().fit(train)
        rows, columns, ratings = self.index.cells(train)
        rng = np.random.default_rng(self.seed)
        users = rng.normal(0, 0.1, (len(self.index.users), self.factors))
        items = rng.normal(0, 0.1, (len(self.index.titles), self.factors))
        residual = ratings - self.mean - self.user_bias[rows] - self.item_bias[columns]
        by_user, by_item = group_positions(rows, len(users)), group_positions(columns, len(items))
        for _ in range(self.als_iterations):
            users = _solve_rows(by_user, items, columns, residual, self.reg)
            items = _solve_rows(by_item, users, rows, residual, self.reg)
        self.user_factors, self.item_factors = users, items
        return self

    def predict(self, user_ids: np.ndarray, titles: np.ndarray) -> np.ndarray:
        rows, columns = self.index.rows(user_ids), self.index.columns(titles)
        product = np.einsum("ij,ij->i", self.user_factors[rows], self.item_factors[columns])
        return super().predict(user_ids, titles) + np.where((rows >= 0) & (columns >= 0), product, 0.0)


class Popularity:
    """Every user gets the titles with the most training ratings."""

    name = "popularity"

    def __init__(self, index: Index) -> None:
        self.index = index

    def fit(self, train: Columns) -> Popularity:
        columns = self.index.columns(train["movie_title"])
        self.counts = np.bincount(columns[columns >= 0], minlength=len(self.index.titles)).astype(np.float64)
        return self

    def scores(self, user_ids: np.ndarray) -> np.ndarray:
        return np.tile(self.counts, (len(user_ids), 1))


class ImplicitALS:
    """Implicit-feedback MF: preference 1 where the user rated the title, confidence 1 + ``alpha``."""

    name = "implicit ALS"

    def __init__(self, index: Index, factors: int = 16, reg: float = 0.1, alpha: float = 10.0,
                 iterations: int = 15, seed: int = 42) -> None:
        self.index, self.factors, self.reg, self.alpha = index, factors, reg, alpha
        self.iterations, self.seed = iterations, seed

    def fit(self, train: Columns) -> ImplicitALS:
        rows, columns, _ = self.index.cells(train)
        pairs = np.unique(rows * len(self.index.titles) + columns)
        rows, columns = pairs // len(self.index.titles), pairs % len(self.index.titles)
        rng = np.random.default_rng(self.seed)
        users = rng.normal(0, 0.01, (len(self.index.users), self.factors))
        items = rng.normal(0, 0.01, (len(self.index.titles), self.factors))
        by_user, by_item = group_positions(rows, len(users)), group_positions(columns, len(items))
        for _ in range(self.iterations):
            users = _solve_implicit(by_user, items, columns, self.alpha, self.reg)
            items = _solve_implicit(by_item, users, rows, self.alpha, self.reg)
        self.user_factors, self.item_factors = users, items
        return self

    def scores(self, user_ids: np.ndarray) -> np.ndarray:
        rows = self.index.rows(user_ids)
        return np.where(rows[:, None] >= 0, self.user_factors[rows] @ self.item_factors.T, 0.0)


def group_positions(keys: np.ndarray, count: int) -> list[np.ndarray]:
    """For each key 0..count-1, the positions where it occurs (in order)."""
    order = np.argsort(keys, kind="stable")
    return np.split(order, np.searchsorted(keys[order], np.arange(1, count)))


def _solve_rows(groups: list[np.ndarray], fixed: np.ndarray, other: np.ndarray, targets: np.ndarray,
                reg: float) -> np.ndarray:
    """Explicit ALS half-step: each row's ridge regression of its targets on the fixed side's factors."""
    eye = reg * np.eye(fixed.shape[1])
    solved = np.zeros((len(groups), fixed.shape[1]))
    for row, positions in enumerate(groups):
        if len(positions):
            f = fixed[other[positions]]
            solved[row] = np.linalg.solve(f.T @ f + eye, f.T @ targets[positions])
    return solved


def _solve_implicit(groups: list[np.ndarray], fixed: np.ndarray, other: np.ndarray, alpha: float,
                    reg: float) -> np.ndarray:
    """Implicit ALS half-step: (FᵀF + αFᵤᵀFᵤ + λI) x = (1 + α) Fᵤᵀ1 for each row."""
    gram, eye = fixed.T @ fixed, reg * np.eye(fixed.shape[1])
    solved = np.zeros((len(groups), fixed.shape[1]))
    for row, positions in enumerate(groups):
        if len(positions):
            f = fixed[other[positions]]
            solved[row] = np.linalg.solve(gram + alpha * f.T @ f + eye, (1 + alpha) * f.sum(axis=0))
    return solved
