"""The ranking tutorial's model: predict a user's rating of a movie.

User and movie embeddings (string lookups inside the model) are concatenated
and fed to a stack of dense layers ending in one rating. Exported as a
SavedModel with two signatures:

* ``serving_default``: ``user_id`` [B], ``movie_title`` [B] -> ``rating`` [B];
  one rating per (user, title) pair, the model's meaning.
* ``score``: ``user_id`` [1], ``movie_title`` [N] -> ``rating`` [N],
  ``user_known`` [1], ``title_known`` [N]; one user against N candidates with
  the user's side computed once: the signature the edge converter turns into
  TFLite.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

from edge_runtime.ranker import SIGNATURE as SCORE_SIGNATURE
from trainer.config import RankingConfig
from trainer.towers import input_pipeline, string_embedding


class RankingModel(tfrs.models.Model):
    """Embeddings into a dense stack, trained with MSE (the ranking tutorial).

    Args:
        user_ids: User vocabulary.
        movie_titles: Movie vocabulary.
        config: Layer sizes.

    Input features: ``user_id`` and ``movie_title`` strings of shape [B] (and
    ``user_rating`` when computing the loss). Output: ratings of shape [B, 1].
    """

    def __init__(self, user_ids: np.ndarray, movie_titles: np.ndarray, config: RankingConfig) -> None:
        super().__init__()
        self.user_embeddings = string_embedding(user_ids, config.embedding_dim)
        self.movie_embeddings = string_embedding(movie_titles, config.embedding_dim)
        self.ratings = tf.keras.Sequential(
            [tf.keras.layers.Dense(units, activation="relu") for units in config.hidden_units]
            + [tf.keras.layers.Dense(1, dtype="float32")]  # ratings in float32 under mixed precision
        )
        self.task = tfrs.tasks.Ranking(
            loss=tf.keras.losses.MeanSquaredError(),
            metrics=[tf.keras.metrics.RootMeanSquaredError(name="rmse")],
        )

    def call(self, features: dict[str, tf.Tensor]) -> tf.Tensor:
        user = self.user_embeddings(features["user_id"])
        movie = self.movie_embeddings(features["movie_title"])
        return self.ratings(tf.concat([user, movie], axis=1))

    def compute_loss(self, features: dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        predictions = self(features)
        return self.task(labels=features["user_rating"], predictions=predictions)

    def score(self, user_id: tf.Tensor, movie_title: tf.Tensor) -> dict[str, tf.Tensor]:
        """One user against N titles: [1] and [N] strings -> ratings [N].

        Computes what ``call`` computes on the N (user, title) pairs, but the
        user's side once: the first dense layer's kernel is split into its user
        and movie rows, ``relu(movie @ W_movie + (user @ W_user + b))``, so each
        candidate costs only its own half. Within float rounding (about 1e-6)
        of ``call``.

        Returns:
            ``rating`` [N] float32; ``user_known`` [1] and ``title_known`` [N]
            bool, false where the id or title is not in the vocabulary (it then
            gets the shared out-of-vocabulary embedding).
        """
        user_lookup, user_embedding = self.user_embeddings.layers
        movie_lookup, movie_embedding = self.movie_embeddings.layers
        user_index, movie_index = user_lookup(user_id), movie_lookup(movie_title)
        user, movie = user_embedding(user_index), movie_embedding(movie_index)
        first, *rest = self.ratings.layers
        user_rows = user.shape[-1]
        user_part = tf.matmul(user, first.kernel[:user_rows]) + first.bias
        hidden = first.activation(tf.matmul(movie, first.kernel[user_rows:]) + user_part)
        for layer in rest:
            hidden = layer(hidden)
        return {
            "rating": tf.reshape(hidden, [-1]),
            "user_known": tf.reshape(user_index > 0, [1]),
            "title_known": tf.reshape(movie_index > 0, [-1]),
        }


def train_ranking(
    train: tf.data.Dataset,
    test: tf.data.Dataset,
    user_ids: np.ndarray,
    movie_titles: np.ndarray,
    config: RankingConfig,
    seed: int,
    verbose: int = 1,
    strategy: tf.distribute.Strategy | None = None,
) -> tuple[RankingModel, dict[str, float]]:
    """Trains the ranker and evaluates it on the test split.

    Args:
        train, test: Unbatched datasets of ``user_id``, ``movie_title`` and
            ``user_rating``.
        user_ids, movie_titles: Vocabularies.
        config: Hyperparameters (batch sizes are global, across replicas).
        seed: Seeds weight initialisation and the training shuffle.
        verbose: Keras ``fit`` verbosity (progress bar).
        strategy: Where to train (``trainer.distribution``); ``None`` is the default strategy.

    Returns:
        The trained model and ``{"rmse": test RMSE}``.
    """
    tf.keras.utils.set_random_seed(seed)
    with (strategy or tf.distribute.get_strategy()).scope():
        model = RankingModel(user_ids, movie_titles, config)
        model.compile(optimizer=tf.keras.optimizers.Adagrad(learning_rate=config.learning_rate))
    model.fit(input_pipeline(train, config.batch_size, seed), epochs=config.epochs, verbose=verbose)
    result = model.evaluate(input_pipeline(test, config.eval_batch_size), return_dict=True, verbose=0)
    return model, {"rmse": float(result["rmse"])}


_PAIRS = [
    tf.TensorSpec([None], tf.string, name="user_id"),
    tf.TensorSpec([None], tf.string, name="movie_title"),
]
_ONE_USER = [
    tf.TensorSpec([1], tf.string, name="user_id"),
    tf.TensorSpec([None], tf.string, name="movie_title"),
]


class RankingExport(tf.Module):
    """What the ranker SavedModel holds: the model, ``__call__`` and two signatures.

    ``loaded({"user_id": [B], "movie_title": [B]})`` returns ratings [B, 1] as
    the Keras model does; the signatures are described in the module docstring.
    """

    def __init__(self, model: RankingModel) -> None:
        super().__init__()
        self.model = model

    @tf.function(input_signature=[{"user_id": _PAIRS[0], "movie_title": _PAIRS[1]}])
    def __call__(self, features: dict[str, tf.Tensor]) -> tf.Tensor:
        return self.model(features)

    @tf.function(input_signature=_PAIRS)
    def serving_default(self, user_id: tf.Tensor, movie_title: tf.Tensor) -> dict[str, tf.Tensor]:
        rating = self.model({"user_id": user_id, "movie_title": movie_title})
        return {"rating": tf.squeeze(rating, axis=-1)}

    @tf.function(input_signature=_ONE_USER)
    def score(self, user_id: tf.Tensor, movie_title: tf.Tensor) -> dict[str, tf.Tensor]:
        return self.model.score(user_id, movie_title)


def export_ranking(model: RankingModel, path: str | os.PathLike[str]) -> None:
    """Saves the ranker as a SavedModel (see ``RankingExport``).

    Args:
        model: A trained ``RankingModel``.
        path: An empty or new folder.
    """
    export = RankingExport(model)
    tf.saved_model.save(
        export,
        os.fspath(path),
        signatures={"serving_default": export.serving_default, SCORE_SIGNATURE: export.score},
    )
