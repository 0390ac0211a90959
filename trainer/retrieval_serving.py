"""The retrieval SavedModel for servers: raw user id in, top titles and scores out.

``RetrievalServing`` holds the query model (user id -> query embedding:
the two towers' user tower, or each user's training history pooled by the
history retrieval model), an index over every title's candidate embedding,
and each user's titles rated in training. Exported in the
TensorFlow Serving layout (``retrieval/<version>/``) with three signatures:

* ``serving_default``: ``user_id`` [B] -> ``titles`` [B, k], ``scores`` [B, k].
* ``exclude_rated``: the same, without the titles the user rated in training
  (padded with "" and score -inf where fewer than k titles remain).
* ``retrieve``: ``user_id`` [B], ``k`` (int32 scalar), ``exclude_rated``
  (bool scalar) -> the same for any k (the candidates of two-stage recommend).

The index is ScaNN (``trainer.scann_index``) when ScaNN is installed, else
exact (a matrix product and ``top_k``), so the export works everywhere. A
ScaNN index SavedModel only loads where ``scann`` was imported first:
``load`` does that, and says so clearly where ScaNN is missing.
``assets.extra/embeddings.npz`` keeps every user's query and every title's
candidate embedding (for the scale benchmark and offline analysis),
``assets.extra/edgerank.json`` the model facts.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import tensorflow as tf
from scipy import sparse

from edge_runtime.errors import EdgeRankError
from edge_runtime.handoff import Handoff
from trainer import scann_index, serving

EMBEDDINGS = "embeddings.npz"
_USER_ID = tf.TensorSpec([None], tf.string, name="user_id")


class ScannUnavailableError(EdgeRankError):
    """The SavedModel holds a ScaNN index and ScaNN is not installed (or does not match TensorFlow)."""


def scann_ops():
    """ScaNN's TensorFlow ops module, or ``None`` where ScaNN cannot be imported."""
    try:
        from scann import scann_ops as ops
    except (ImportError, tf.errors.NotFoundError):
        return None
    return ops


class RetrievalServing(tf.Module):
    """The query model behind an index over every title (see the module docstring).

    Args:
        query_model: Raw user ids [B] -> query embeddings [B, d]; its first layer is the
            ``StringLookup`` of the user ids (``trainer.towers.string_embedding``).
        titles: Every title, the candidates.
        candidates: The candidates' embeddings of ``titles`` ([N, d] float32).
        rated: [users, titles] the titles each user rated in training (any nonzero cell), its rows in the
            query model's vocabulary order (without the out-of-vocabulary row).
        k: Titles returned per user.
        settings: ScaNN settings; ``None`` serves exact search.
    """

    def __init__(self, query_model: tf.keras.Model, titles: np.ndarray, candidates: np.ndarray,
                 rated: sparse.csr_matrix, k: int, settings: scann_index.ScannSettings | None) -> None:
        super().__init__()
        self.query_model = query_model
        self.k = k
        self.titles = tf.Variable(titles.astype(object), trainable=False, dtype=tf.string)
        self.index_kind = "exact" if settings is None else "scann"
        if settings is None:
            self.candidates = tf.Variable(candidates, trainable=False)
        else:
            self.searcher = scann_index.builder(scann_ops(), candidates, k, settings).build().serialize_to_module()
            self.reorder = settings.reorder
        # Each user's rated title indices, ascending, in the query model's vocabulary order (row 0: unknown
        # users, none): as indices, a user is searched in ``_rated`` without comparing every pair of titles.
        users = self.query_model.layers[0].vocabulary_size() - 1  # index 0 is the out-of-vocabulary token
        if rated.shape != (users, len(titles)):
            raise ValueError(f"rated is {rated.shape}, not users x titles ({users} x {len(titles)})")
        rated = sparse.csr_matrix(rated)
        if not rated.has_sorted_indices:
            rated = rated.sorted_indices()  # a copy: the caller's matrix is left as it was
        self.rated_indices = tf.Variable(np.asarray(rated.indices, np.int32), trainable=False)
        self.rated_splits = tf.Variable(np.concatenate([[0], rated.indptr]), trainable=False, dtype=tf.int64)

    def _search(self, queries: tf.Tensor, count: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """The ``count`` best (scores, title indices) per query embedding."""
        if self.index_kind == "exact":
            return tf.math.top_k(tf.matmul(queries, self.candidates, transpose_b=True), k=count)
        searcher = scann_ops().searcher_from_module(self.searcher)
        result = searcher.search_batched(queries, final_num_neighbors=count,
                                         pre_reorder_num_neighbors=tf.maximum(self.reorder, count))
        return result.distances, result.indices

    def _top(self, user_id: tf.Tensor, k: tf.Tensor, exclude_rated: tf.Tensor) -> dict[str, tf.Tensor]:
        """Each user's best ``k`` titles, optionally without those rated in training."""
        catalogue = tf.shape(self.titles, out_type=tf.int32)[0]
        k = tf.clip_by_value(tf.cast(k, tf.int32), 1, catalogue)
        rated = tf.gather(tf.RaggedTensor.from_row_splits(self.rated_indices, self.rated_splits),
                          self.query_model.layers[0](user_id))
        # Excluding: enough candidates that k are left after the most that one of these users rated.
        most_rated = tf.cast(tf.reduce_max(tf.concat([rated.row_lengths(), [0]], axis=0)), tf.int32)
        count = tf.minimum(k + tf.where(exclude_rated, most_rated, 0), catalogue)
        queries = tf.cast(self.query_model(user_id), tf.float32)
        scores, indices = self._search(queries, count)
        is_rated = tf.cond(exclude_rated, lambda: _rated(rated, indices, catalogue),
                           lambda: tf.zeros_like(indices, tf.bool))
        best = tf.math.top_k(tf.where(is_rated, tf.constant(-np.inf, scores.dtype), scores), k=tf.minimum(k, count))
        titles = tf.gather(self.titles, tf.gather(indices, best.indices, batch_dims=1))
        # Fewer titles than k left after exclusion: the rest are "" with score -inf.
        return {"titles": tf.where(tf.math.is_inf(best.values), "", titles), "scores": best.values}

    @tf.function(input_signature=[_USER_ID])
    def serving_default(self, user_id: tf.Tensor) -> dict[str, tf.Tensor]:
        return self._top(user_id, self.k, tf.constant(False))

    @tf.function(input_signature=[_USER_ID])
    def exclude_rated(self, user_id: tf.Tensor) -> dict[str, tf.Tensor]:
        return self._top(user_id, self.k, tf.constant(True))

    @tf.function(input_signature=[_USER_ID, tf.TensorSpec([], tf.int32, name="k"),
                                  tf.TensorSpec([], tf.bool, name="exclude_rated")])
    def retrieve(self, user_id: tf.Tensor, k: tf.Tensor, exclude_rated: tf.Tensor) -> dict[str, tf.Tensor]:
        return self._top(user_id, k, exclude_rated)


def _rated(rated: tf.RaggedTensor, indices: tf.Tensor, catalogue: tf.Tensor) -> tf.Tensor:
    """[B, n] booleans: whether each user rated each of their candidates ``indices`` [B, n] (int32).

    Each candidate is searched among the user's ascending ``rated`` [B, None] indices: n log m steps for m
    ratings, where comparing every pair took n × m (for a user with 30,000 ratings, a billion).
    """
    above = tf.fill([tf.shape(indices)[0], 1], catalogue)  # past every index: a row of none still searches
    padded = tf.concat([rated.to_tensor(default_value=catalogue), above], axis=1)
    return tf.gather(padded, tf.searchsorted(padded, indices), batch_dims=1) == indices


def export(model: RetrievalServing, path: str | os.PathLike[str], embeddings: dict[str, np.ndarray]) -> None:
    """Saves the serving model (ScaNN ops included) and its embeddings into ``path``."""
    tf.saved_model.save(
        model, os.fspath(path),
        signatures={"serving_default": model.serving_default, "exclude_rated": model.exclude_rated,
                    "retrieve": model.retrieve},
        options=tf.saved_model.SaveOptions(namespace_whitelist=["Scann"]),
    )
    extra = Path(path) / serving.EXTRA_DIR
    extra.mkdir(exist_ok=True)
    np.savez(extra / EMBEDDINGS, **embeddings)


def read_embeddings(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The embeddings ``export`` saved: ``user_ids``, ``user_embeddings`` [U, d] (the queries),
    ``titles`` and ``title_embeddings`` [T, d] (float32).

    Args:
        path: A retrieval model version folder, or the base folder (its highest version).

    Raises:
        ServingLayoutError: No retrieval model there, or its embeddings are missing or incomplete.
    """
    file = serving.resolve(path) / serving.EXTRA_DIR / EMBEDDINGS
    try:
        with np.load(file, allow_pickle=False) as saved:
            embeddings = {name: saved[name] for name in ("user_ids", "user_embeddings", "titles", "title_embeddings")}
    except (OSError, KeyError, ValueError) as error:
        raise serving.ServingLayoutError(
            f"cannot read the retrieval embeddings {file}: {error}; run `edgerank train`") from error
    for name in ("user_embeddings", "title_embeddings"):
        embeddings[name] = embeddings[name].astype(np.float32)
    return embeddings


def load(path: str | os.PathLike[str]) -> tf.Module:
    """Loads an exported retrieval model, importing ScaNN first so its ops are registered.

    Raises:
        ScannUnavailableError: The model holds a ScaNN index and ScaNN cannot be imported here.
    """
    scann_ops()  # registers the Scann ops where ScaNN is installed
    try:
        return tf.saved_model.load(os.fspath(path))
    except (tf.errors.NotFoundError, RuntimeError, ValueError, KeyError) as error:
        if "Scann" not in str(error):
            raise
        raise ScannUnavailableError(
            f"{path} holds a ScaNN index, and ScaNN's TensorFlow ops are not available here "
            "(pip install scann==1.4.2, built for TensorFlow 2.20); everything else in EdgeRank works without it"
        ) from error


def retrieve(path: str | os.PathLike[str], user_id: str, k: int, exclude_rated: bool) -> Handoff:
    """One user's best ``k`` titles from the retrieval model at ``path`` (a version or its base folder).

    Raises:
        ScannUnavailableError: See ``load``.
        ServingLayoutError: ``path`` holds no retrieval model.
    """
    folder = serving.resolve(path)
    info = serving.read_info(folder)
    result = load(folder).signatures["retrieve"](user_id=tf.constant([user_id]), k=tf.constant(k, tf.int32),
                                                 exclude_rated=tf.constant(exclude_rated))
    found = [(title.decode("utf-8"), float(score))
             for title, score in zip(result["titles"].numpy()[0], result["scores"].numpy()[0]) if title]
    return Handoff(user_id, [title for title, _ in found], [score for _, score in found], {
        "model": str(folder), "version": info["version"], "index": info["index"]["kind"], "k": k,
        "exclude_rated": exclude_rated})
