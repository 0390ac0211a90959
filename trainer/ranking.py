"""The ranking tutorial's model: predict a user's rating of a movie.

User and movie embeddings (string lookups inside the model) are concatenated
and fed to a stack of dense layers ending in one rating. Exported as a
SavedModel with two signatures:

* ``serving_default``: ``user_id`` [B], ``movie_title`` [B] -> ``rating`` [B];
  one rating per (user, title) pair, the model's meaning.
* ``score``: ``user_id`` [1], ``movie_title`` [N] -> ``rating`` [N],
  ``user_known`` [1], ``title_known`` [N]; one user against N candidates with
  the user's side computed once: the device contract
  (``edge_runtime.contract``), which the edge converter turns into TFLite.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

from edge_runtime.contract import (RATING_OUTPUT, SIGNATURE, TITLE_INPUT, TITLE_KNOWN_OUTPUT, USER_INPUT,
                                   USER_KNOWN_OUTPUT)
from trainer.config import RankingConfig
from trainer.towers import float32_policy, input_pipeline, string_embedding


class MeanSquaredError(tf.keras.losses.Loss):
    """Mean squared error over the global batch, whatever the number of replicas.

    Keras refuses its mean-reducing losses under a ``tf.distribute`` strategy
    outside ``compile``; this one averages per-example errors with
    ``tf.nn.compute_average_loss`` (divides by the global batch size), so
    replicas' gradients sum to the single-device gradient and one device gives
    exactly ``tf.keras.losses.MeanSquaredError``.
    """

    def __init__(self) -> None:
        super().__init__(reduction=tf.keras.losses.Reduction.NONE, name="mean_squared_error")

    def call(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        y_true = tf.reshape(tf.cast(y_true, y_pred.dtype), tf.shape(y_pred))  # labels [B] against ratings [B, 1]
        return tf.reduce_mean(tf.math.squared_difference(y_pred, y_true), axis=-1)

    def __call__(self, y_true: tf.Tensor, y_pred: tf.Tensor, sample_weight: tf.Tensor | None = None) -> tf.Tensor:
        return tf.nn.compute_average_loss(super().__call__(y_true, y_pred, sample_weight))


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
            loss=MeanSquaredError(),
            metrics=[tf.keras.metrics.RootMeanSquaredError(name="rmse")],
        )

    def call(self, features: dict[str, tf.Tensor]) -> tf.Tensor:
        user = self.user_embeddings(features[USER_INPUT])
        movie = self.movie_embeddings(features[TITLE_INPUT])
        return self.ratings(tf.concat([user, movie], axis=1))

    def compute_loss(self, features: dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        predictions = self(features)
        return self.task(labels=features["user_rating"], predictions=predictions)

    def architecture(self) -> dict:
        """Vocabulary sizes (without the out-of-vocabulary row), embedding sizes and dense kernel shapes."""
        (users, user_dim), = [v.shape.as_list() for v in self.user_embeddings.variables]
        (titles, title_dim), = [v.shape.as_list() for v in self.movie_embeddings.variables]
        kernels = [v.shape.as_list() for v in self.ratings.variables if v.shape.rank == 2]
        return {"model": "tutorial", "user_vocabulary": users - 1, "title_vocabulary": titles - 1,
                "user_embedding": user_dim, "title_embedding": title_dim, "dense": kernels}

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
        # The first layer's compute dtype: float32, or float16 under mixed precision.
        kernel, bias = tf.cast(first.kernel, first.compute_dtype), tf.cast(first.bias, first.compute_dtype)
        user, movie = tf.cast(user, first.compute_dtype), tf.cast(movie, first.compute_dtype)
        user_part = tf.matmul(user, kernel[:user_rows]) + bias
        hidden = first.activation(tf.matmul(movie, kernel[user_rows:]) + user_part)
        for layer in rest:
            hidden = layer(hidden)
        return {
            RATING_OUTPUT: tf.reshape(hidden, [-1]),
            USER_KNOWN_OUTPUT: tf.reshape(user_index > 0, [1]),
            TITLE_KNOWN_OUTPUT: tf.reshape(movie_index > 0, [-1]),
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


def float32_copy(model: RankingModel, user_ids: np.ndarray, movie_titles: np.ndarray,
                 config: RankingConfig) -> RankingModel:
    """The same ranker computing in float32, for export after mixed-precision training.

    TFLite's built-in kernels have no float16 arithmetic, and the edge contract
    is float32; the variables are float32 under mixed precision already, so
    they are copied as they are.
    """
    with float32_policy():
        copy = RankingModel(user_ids, movie_titles, config)
        copy({USER_INPUT: tf.constant(user_ids[:1]), TITLE_INPUT: tf.constant(movie_titles[:1])})
    copy.set_weights(model.get_weights())
    return copy


_PAIRS = [
    tf.TensorSpec([None], tf.string, name=USER_INPUT),
    tf.TensorSpec([None], tf.string, name=TITLE_INPUT),
]
_ONE_USER = [
    tf.TensorSpec([1], tf.string, name=USER_INPUT),
    tf.TensorSpec([None], tf.string, name=TITLE_INPUT),
]


class RankingExport(tf.Module):
    """What the ranker SavedModel holds: the model, ``__call__`` and two signatures.

    ``loaded({"user_id": [B], "movie_title": [B]})`` returns ratings [B, 1] as
    the Keras model does; the signatures are described in the module docstring.
    """

    def __init__(self, model: RankingModel) -> None:
        super().__init__()
        self.model = model

    @tf.function(input_signature=[{USER_INPUT: _PAIRS[0], TITLE_INPUT: _PAIRS[1]}])
    def __call__(self, features: dict[str, tf.Tensor]) -> tf.Tensor:
        return self.model(features)

    @tf.function(input_signature=_PAIRS)
    def serving_default(self, user_id: tf.Tensor, movie_title: tf.Tensor) -> dict[str, tf.Tensor]:
        rating = self.model({USER_INPUT: user_id, TITLE_INPUT: movie_title})
        return {RATING_OUTPUT: tf.squeeze(rating, axis=-1)}

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
        signatures={"serving_default": export.serving_default, SIGNATURE: export.score},
    )
