"""The retrieval tutorial's two-tower model, its indexes, and their export.

A query tower (user id -> 32-d embedding) and a candidate tower (movie title
-> 32-d embedding) are trained with in-batch softmax and evaluated with
``FactorizedTopK`` on the test split. Retrieval is served by a ScaNN index
over every catalogue title, checked against an exact BruteForce index, and
exported as a SavedModel: ``user_id`` [B] strings in, ``(scores [B, k],
titles [B, k])`` out. Loading that SavedModel needs ``import scann`` first.
"""

from __future__ import annotations

import math
import os

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

from trainer.config import RetrievalConfig
from trainer.towers import input_pipeline, string_embedding

#: ``FactorizedTopK`` cut-offs reported for the test split.
TOP_KS = (1, 5, 10, 50, 100)


class RetrievalModel(tfrs.Model):
    """Two towers trained with the TFRS retrieval task.

    Args:
        user_ids: User vocabulary (query tower).
        movie_titles: Unique catalogue titles (candidate tower, and the
            candidates ``FactorizedTopK`` ranks).
        config: Sizes and whether metrics run during ``fit`` (see ``make_task``).

    Input features: ``user_id`` and ``movie_title`` strings of shape [B].
    """

    def __init__(self, user_ids: np.ndarray, movie_titles: np.ndarray, config: RetrievalConfig) -> None:
        super().__init__()
        self.user_model = string_embedding(user_ids, config.embedding_dim)
        self.movie_model = string_embedding(movie_titles, config.embedding_dim)
        self._movie_titles = movie_titles
        self.task = self.make_task(with_metrics=config.metrics_during_training)

    def make_task(self, with_metrics: bool) -> tfrs.tasks.Retrieval:
        """The retrieval task, with ``FactorizedTopK`` over every title if asked.

        Metrics attached to the task are computed on every batch, in ``fit``
        too, where they cost most of the training time without changing it.
        """
        if not with_metrics:
            return tfrs.tasks.Retrieval()
        candidates = tf.data.Dataset.from_tensor_slices(self._movie_titles).batch(128).map(self.movie_model)
        return tfrs.tasks.Retrieval(metrics=tfrs.metrics.FactorizedTopK(candidates=candidates, ks=TOP_KS))

    def compute_loss(self, features: dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        # float32 scores even when the towers compute in float16 (mixed precision).
        users = tf.cast(self.user_model(features["user_id"]), tf.float32)
        movies = tf.cast(self.movie_model(features["movie_title"]), tf.float32)
        return self.task(users, movies)


def train_retrieval(
    train: tf.data.Dataset,
    test: tf.data.Dataset,
    user_ids: np.ndarray,
    movie_titles: np.ndarray,
    config: RetrievalConfig,
    seed: int,
    verbose: int = 1,
    strategy: tf.distribute.Strategy | None = None,
) -> tuple[RetrievalModel, dict[str, float]]:
    """Trains the two towers and evaluates top-k accuracy on the test split.

    Args:
        train, test: Unbatched datasets of ``user_id`` and ``movie_title``.
        user_ids, movie_titles: Vocabularies (unique titles).
        config: Hyperparameters (batch sizes are global, across replicas).
        seed: Seeds weight initialisation and the training shuffle.
        verbose: Keras ``fit`` verbosity (progress bar).
        strategy: Where to train (``trainer.distribution``); ``None`` is the default strategy.

    Returns:
        The model and ``{"top_1": …, "top_5": …, "top_10": …, "top_50": …,
        "top_100": …}``: the share of test ratings whose title is among the
        user's top k of all titles.
    """
    tf.keras.utils.set_random_seed(seed)
    with (strategy or tf.distribute.get_strategy()).scope():
        model = RetrievalModel(user_ids, movie_titles, config)
        model.compile(optimizer=tf.keras.optimizers.Adagrad(learning_rate=config.learning_rate))
    model.fit(input_pipeline(train, config.batch_size, seed), epochs=config.epochs, verbose=verbose)
    if not config.metrics_during_training:
        with (strategy or tf.distribute.get_strategy()).scope():
            model.task = model.make_task(with_metrics=True)
    result = model.evaluate(input_pipeline(test, config.eval_batch_size), return_dict=True, verbose=0)
    return model, {
        f"top_{k}": float(result[f"factorized_top_k/top_{k}_categorical_accuracy"]) for k in TOP_KS
    }


def scann_settings(corpus_size: int, config: RetrievalConfig) -> dict[str, int]:
    """ScaNN layer arguments for a corpus, from the config or derived from its size.

    Returns:
        ``num_leaves`` (about sqrt(N) unless set), ``num_leaves_to_search`` (half
        of them unless set) and ``num_reordering_candidates``.
    """
    leaves = config.scann_leaves or max(1, round(math.sqrt(corpus_size)))
    return {
        "num_leaves": leaves,
        "num_leaves_to_search": config.scann_leaves_to_search or max(1, leaves // 2),
        "num_reordering_candidates": max(config.scann_reorder, config.index_k),
    }


def build_index(
    model: RetrievalModel, movie_titles: np.ndarray, config: RetrievalConfig, kind: str = "scann"
) -> tfrs.layers.factorized_top_k.TopK:
    """Indexes every title's candidate embedding behind the query tower.

    Args:
        model: A trained ``RetrievalModel``.
        movie_titles: The titles to index (unique).
        config: ``index_k`` titles are returned per query; ScaNN settings.
        kind: ``"scann"`` (approximate, for serving) or ``"brute_force"`` (exact).

    Returns:
        A layer mapping ``user_id`` strings [B] to ``(scores [B, k], titles [B, k])``.
    """
    if kind == "scann":
        settings = scann_settings(len(movie_titles), config)
        index = tfrs.layers.factorized_top_k.ScaNN(model.user_model, k=config.index_k, **settings)
    elif kind == "brute_force":
        index = tfrs.layers.factorized_top_k.BruteForce(model.user_model, k=config.index_k)
    else:
        raise ValueError(f"unknown index kind {kind!r}: use 'scann' or 'brute_force'")
    titles = tf.data.Dataset.from_tensor_slices(movie_titles).batch(256)
    index.index_from_dataset(tf.data.Dataset.zip((titles, titles.map(model.movie_model))))
    return index


def recall_against_exact(
    approximate: tfrs.layers.factorized_top_k.TopK,
    exact: tfrs.layers.factorized_top_k.TopK,
    user_ids: np.ndarray,
) -> float:
    """Mean share of the exact top-k titles that the approximate index also returns."""
    _, approximate_titles = approximate(tf.constant(user_ids))
    _, exact_titles = exact(tf.constant(user_ids))
    hits = [
        len(set(a) & set(e)) / len(e)
        for a, e in zip(approximate_titles.numpy().tolist(), exact_titles.numpy().tolist())
    ]
    return float(np.mean(hits))


def export_index(index: tfrs.layers.factorized_top_k.TopK, path: str | os.PathLike[str]) -> None:
    """Saves an index (ScaNN ops included) as a SavedModel.

    The index is called once first so that its serving function is traced.
    """
    index(tf.constant(["1"]))
    tf.saved_model.save(
        index, os.fspath(path), options=tf.saved_model.SaveOptions(namespace_whitelist=["Scann"])
    )


def load_index(path: str | os.PathLike[str]):
    """Loads an exported index; imports ScaNN first so its ops are registered.

    Raises:
        ImportError: ScaNN is not installed (``pip install scann==1.4.2``).
    """
    try:
        import scann  # noqa: F401  (registers the Scann ops)
    except ImportError as error:
        raise ImportError(
            "the retrieval index needs ScaNN's TensorFlow ops: pip install 'edgerank[train]'"
        ) from error
    return tf.saved_model.load(os.fspath(path))
