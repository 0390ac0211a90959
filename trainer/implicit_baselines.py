"""Baselines for implicit feedback, from the libraries people use, on one [users, items] sparse matrix.

* ``Popularity``: each item's number of training users, for everyone.
* ``ALS``: the ``implicit`` package's ``AlternatingLeastSquares`` (Hu, Koren
  and Volinsky 2008) with confidence ``alpha · log1p(weight)``.
* ``EASE``: Steck's closed-form item-item model (2019), ``B = I - P / diag(P)``
  with ``P = (XᵀX + λI)⁻¹`` over the binary matrix. The inverse is dense in
  the items, so it is taken over the items with at least ``min_users``
  training users (the rest score 0): on Last.fm 2K that is 5,946 of 17,632
  artists and seconds instead of minutes.

Each ``fit`` takes a CSR matrix of training weights (rows: users, columns:
items) and ``scores(rows)`` returns those users' scores of every item. The
hyperparameters are chosen on a validation split (``choose``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sparse

#: Most items EASE is fitted on: its dense item × item inverse is 1.6 GB at 20,000 (13 GB at 59,047).
EASE_MAX_ITEMS = 20_000

#: Grids ``choose`` searches, by baseline.
GRIDS: dict[str, Sequence[dict]] = {
    "popularity": [{}],
    "implicit ALS": [{"alpha": alpha, "regularization": regularization}
                     for alpha in (1.0, 10.0) for regularization in (0.01, 1.0)],
    "EASE": [{"ridge": ridge} for ridge in (100.0, 300.0, 1000.0)],
}


class Popularity:
    """Every user gets the items with the most training users."""

    def __init__(self, seed: int = 42) -> None:
        del seed

    def fit(self, weights: sparse.csr_matrix) -> Popularity:
        self.counts = np.asarray((weights > 0).sum(axis=0), np.float32).ravel()
        return self

    def scores(self, rows: np.ndarray) -> np.ndarray:
        return np.tile(self.counts, (len(rows), 1))


class ALS:
    """``implicit.cpu.als.AlternatingLeastSquares`` on confidence ``alpha · log1p(weight)``, 64 factors."""

    def __init__(self, alpha: float = 1.0, regularization: float = 0.01, factors: int = 64, iterations: int = 15,
                 seed: int = 42) -> None:
        self.alpha, self.regularization, self.factors = alpha, regularization, factors
        self.iterations, self.seed = iterations, seed

    def fit(self, weights: sparse.csr_matrix) -> ALS:
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        confidence = weights.copy().astype(np.float32)
        confidence.data = self.alpha * np.log1p(confidence.data)
        with threadpool_limits(1, "blas"):  # implicit's own threads; BLAS threads inside them only slow it
            model = AlternatingLeastSquares(factors=self.factors, regularization=self.regularization,
                                            iterations=self.iterations, random_state=self.seed)
            model.fit(confidence, show_progress=False)
        self.users, self.items = model.user_factors, model.item_factors
        return self

    def scores(self, rows: np.ndarray) -> np.ndarray:
        return self.users[rows] @ self.items.T


class EASE:
    """Steck's EASE over the items with at least ``min_users`` training users (module docstring)."""

    def __init__(self, ridge: float = 300.0, min_users: int = 2, seed: int = 42) -> None:
        del seed
        self.ridge, self.min_users = ridge, min_users

    def fit(self, weights: sparse.csr_matrix) -> EASE:
        binary = (weights > 0).astype(np.float32).tocsc()
        self.items = np.flatnonzero(np.asarray(binary.sum(axis=0)).ravel() >= self.min_users)
        self.binary = binary[:, self.items].tocsr()
        gram = (self.binary.T @ self.binary).toarray()
        gram[np.diag_indices_from(gram)] += self.ridge
        inverse = np.linalg.inv(gram)
        self.weights = -inverse / np.diag(inverse)
        np.fill_diagonal(self.weights, 0.0)
        self.width = weights.shape[1]
        return self

    def scores(self, rows: np.ndarray) -> np.ndarray:
        scores = np.zeros((len(rows), self.width), np.float32)
        scores[:, self.items] = self.binary[rows] @ self.weights
        return scores


#: The baselines by the name reports use.
MODELS: dict[str, Callable[..., Popularity | ALS | EASE]] = {"popularity": Popularity, "implicit ALS": ALS,
                                                              "EASE": EASE}


def choose(name: str, validate: Callable[[Popularity | ALS | EASE], float], seed: int) -> dict:
    """The point of ``GRIDS[name]`` whose model, fitted by ``validate``, scores highest there."""
    scored = [(validate(MODELS[name](**params, seed=seed)), index) for index, params in enumerate(GRIDS[name])]
    return dict(GRIDS[name][max(scored)[1]])


def weight_matrix(rows: np.ndarray, columns: np.ndarray, weights: np.ndarray, shape: tuple[int, int]
                  ) -> sparse.csr_matrix:
    """A CSR [users, items] matrix of weights (repeated cells summed)."""
    return sparse.csr_matrix((weights.astype(np.float32), (rows, columns)), shape=shape)
