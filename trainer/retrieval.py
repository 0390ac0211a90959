"""The retrieval tutorial's two-tower model and its training.

A query tower (user id -> 32-d embedding) and a candidate tower (movie title
-> 32-d embedding) are trained with in-batch softmax and evaluated with
``FactorizedTopK`` on the test split. Serving (the towers behind a ScaNN
index) is ``trainer.retrieval_serving``.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

from trainer.config import RetrievalConfig
from trainer.towers import float32_policy, input_pipeline, string_embedding

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
        # Build both towers now, user first as training would: metrics built in
        # make_task would otherwise build the movie tower first and draw other
        # initial weights from the seeded generator.
        self.user_model(tf.constant(user_ids[:1]))
        self.movie_model(tf.constant(movie_titles[:1]))
        self._movie_titles = movie_titles
        self.popularity_correction = config.popularity_correction
        self.sampling_probability: tf.lookup.StaticHashTable | None = None
        self.task = self.make_task(with_metrics=config.metrics_during_training)

    def set_sampling_probability(self, titles: np.ndarray) -> None:
        """Each title's share of the training ratings, how often it is an in-batch negative.

        With ``popularity_correction``, training subtracts its log from the
        in-batch logits (TFRS's ``candidate_sampling_probability``), so popular
        titles are not penalised for showing up as negatives more often.
        """
        found, counts = np.unique(titles, return_counts=True)
        self.sampling_probability = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(found, (counts / len(titles)).astype(np.float32)),
            default_value=np.float32(1 / len(titles)))

    def make_task(self, with_metrics: bool) -> tfrs.tasks.Retrieval:
        """The retrieval task, with ``FactorizedTopK`` over every title if asked.

        Metrics attached to the task are computed on every batch, in ``fit``
        too, where they cost most of the training time without changing it.
        """
        with float32_policy():  # scores and softmax in float32 under mixed precision too
            if not with_metrics:
                # With popularity correction, a title twice in a batch is not its own negative.
                return tfrs.tasks.Retrieval(remove_accidental_hits=self.popularity_correction)
            candidates = tf.data.Dataset.from_tensor_slices(self._movie_titles).batch(128).map(
                lambda titles: tf.cast(self.movie_model(titles), tf.float32))
            return tfrs.tasks.Retrieval(metrics=tfrs.metrics.FactorizedTopK(candidates=candidates, ks=TOP_KS))

    def compute_loss(self, features: dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        # float32 scores even when the towers compute in float16 (mixed precision).
        users = tf.cast(self.user_model(features["user_id"]), tf.float32)
        movies = tf.cast(self.movie_model(features["movie_title"]), tf.float32)
        if self.popularity_correction and training:
            # Candidate ids make FactorizedTopK id-based; it is computed at evaluation only.
            return self.task(users, movies, compute_metrics=False,
                             candidate_sampling_probability=self.sampling_probability.lookup(features["movie_title"]),
                             candidate_ids=self.movie_model.layers[0](features["movie_title"]))  # int ids
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
        if config.popularity_correction:
            model.set_sampling_probability(np.concatenate(
                [batch["movie_title"] for batch in train.batch(65_536).as_numpy_iterator()]))
        model.compile(optimizer=tf.keras.optimizers.Adagrad(learning_rate=config.learning_rate))
    model.fit(input_pipeline(train, config.batch_size, seed), epochs=config.epochs, verbose=verbose)
    if not config.metrics_during_training:
        with (strategy or tf.distribute.get_strategy()).scope():
            model.task = model.make_task(with_metrics=True)
    result = model.evaluate(input_pipeline(test, config.eval_batch_size), return_dict=True, verbose=0)
    return model, {
        f"top_{k}": float(result[f"factorized_top_k/top_{k}_categorical_accuracy"]) for k in TOP_KS
    }


def embed(tower: tf.keras.Model, strings: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """A tower's float32 embeddings of ``strings`` ([N] -> [N, d])."""
    return np.concatenate([tf.cast(tower(tf.constant(strings[i : i + batch_size])), tf.float32).numpy()
                           for i in range(0, len(strings), batch_size)])
