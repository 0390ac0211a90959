"""ScaNN index settings derived from the corpus size, and the exact reference.

ScaNN partitions the candidates into leaves (k-means), scores the candidates
of the leaves nearest to the query with asymmetric hashing (AH), and rescores
the best of those exactly (reordering). The settings below follow ScaNN's own
advice, derived from the corpus size N unless set:

* ``num_leaves``: about 2·sqrt(N) (2,000 for a million candidates).
* ``num_leaves_to_search``: enough leaves to score about max(2,000, N/200)
  candidates (10 of 2,000 leaves at a million; every leaf below ~2,000).
* ``dimensions_per_block`` 1: one 16-entry codebook per dimension, accurate
  enough that reordering 50 candidates keeps recall@10 above 0.99.
* ``reorder``: max(50, 2k) candidates rescored exactly.
* Centroids quantized: cheaper to scan 2,000 of them per query.

``builder`` applies the settings to a ScaNN builder, either the TensorFlow-op
one (``scann.scann_ops``: an index that lives in a SavedModel) or the pybind
one (``scann.scann_ops_pybind``: the fastest from Python, used by the scale
benchmark), so both are the same index. ``exact_top_k`` is the brute-force
reference that recall is measured against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ScannSettings:
    """One ScaNN configuration (see the module docstring).

    Attributes:
        num_leaves: k-means partitions.
        num_leaves_to_search: Partitions searched per query.
        dimensions_per_block: AH dimensions per codebook.
        reorder: Candidates rescored exactly per query.
        training_sample_size: Candidates the partitioner and AH train on.
    """

    num_leaves: int
    num_leaves_to_search: int
    dimensions_per_block: int
    reorder: int
    training_sample_size: int


def derive_settings(corpus_size: int, k: int = 10, num_leaves: int = 0, num_leaves_to_search: int = 0,
                    dimensions_per_block: int = 1, reorder: int = 0) -> ScannSettings:
    """Settings for ``corpus_size`` candidates and ``k`` results; a non-zero argument overrides its rule.

    Raises:
        ValueError: An empty corpus or a non-positive ``k``.
    """
    if corpus_size < 1 or k < 1:
        raise ValueError(f"a ScaNN index needs candidates and k >= 1, got {corpus_size} candidates and k={k}")
    leaves = num_leaves or max(1, min(corpus_size, round(2 * math.sqrt(corpus_size))))
    per_leaf = corpus_size / leaves
    searched = num_leaves_to_search or math.ceil(max(2_000, corpus_size / 200) / per_leaf)
    return ScannSettings(
        num_leaves=leaves,
        num_leaves_to_search=max(1, min(leaves, searched)),
        dimensions_per_block=dimensions_per_block,
        reorder=reorder or max(50, 2 * k),
        training_sample_size=min(corpus_size, 250_000),
    )


def builder(module: Any, candidates: np.ndarray, k: int, settings: ScannSettings, training_threads: int = 0) -> Any:
    """A configured ScaNN builder for dot-product search; call ``.build()`` on it.

    Args:
        module: ``scann.scann_ops`` (TensorFlow ops) or ``scann.scann_ops_pybind``.
        candidates: [N, d] float32 embeddings.
        k: Results per query by default.
        settings: From ``derive_settings``.
        training_threads: Threads for training the index; 0 lets ScaNN choose.
    """
    # A single partition is brute force over AH codes; ScaNN's tree needs at least two.
    index = module.builder(candidates, k, "dot_product")
    if settings.num_leaves > 1:
        index = index.tree(num_leaves=settings.num_leaves, num_leaves_to_search=settings.num_leaves_to_search,
                           training_sample_size=settings.training_sample_size, quantize_centroids=True)
    index = index.score_ah(settings.dimensions_per_block, anisotropic_quantization_threshold=0.2,
                           training_sample_size=settings.training_sample_size)
    index = index.reorder(settings.reorder)
    return index.set_n_training_threads(training_threads) if training_threads else index


def exact_top_k(queries: np.ndarray, candidates: np.ndarray, k: int, batch: int = 256) -> np.ndarray:
    """Brute force: the indices of each query's ``k`` highest dot products, best first.

    Args:
        queries: [Q, d] float32.
        candidates: [N, d] float32.
        k: Results per query (at most N).
        batch: Queries scored per matrix product (bounds memory at batch × N floats).

    Returns:
        [Q, k] int64 candidate indices.
    """
    k = min(k, len(candidates))
    result = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), batch):
        scores = queries[start : start + batch] @ candidates.T
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
        result[start : start + batch] = np.take_along_axis(top, order, axis=1)
    return result


def recall(approximate: np.ndarray, exact: np.ndarray) -> float:
    """Mean share of each row of ``exact`` found in the same row of ``approximate`` ([Q, k] each)."""
    return float(np.mean([len(set(a.tolist()) & set(e.tolist())) / len(e) for a, e in zip(approximate, exact)]))
