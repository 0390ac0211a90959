"""Item-based AutoRec (Sedhain et al., 2015): the ranker that beats the classic baselines.

Training: each title is the vector of its ratings by every user (0 where
unrated). An encoder ``sigmoid(r_i V + b)`` squeezes it into a hidden code and
a decoder ``code W + c`` reconstructs it; the loss is the squared error on the
observed ratings (TFRS's ``Ranking`` task) plus AutoRec's L2 penalty
``λ/2 (‖V‖² + ‖W‖²)``. Adam, one full batch per epoch; the number of epochs is
chosen by early stopping on a validation split carved out of the training
ratings, then the model is retrained on all of them for that many epochs.

Serving: user u's predicted rating of title i is ``code_i · W[:, u] + c_u``.
The codes depend only on the training ratings, so they are computed once and
exported as a table: ``AutoRecRanker`` holds the vocabularies, one row
``[code_i, 1]`` per title and one row ``[W[:, u], c_u]`` per user, and scores
a pair with one dot product, on device too (built-in TFLite ops only).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

from edge_runtime.contract import RATING_OUTPUT, TITLE_INPUT, TITLE_KNOWN_OUTPUT, USER_INPUT, USER_KNOWN_OUTPUT
from interactions import metrics
from trainer import baselines, data
from trainer.config import ConfigError, RankingConfig
from trainer.progress import fit_progress
from trainer.ranking import MeanSquaredError
from trainer.towers import float32_policy

log = logging.getLogger(__name__)

#: The largest titles × users float32 rating matrix AutoRec trains on (it is
#: held in memory whole, with its validation twin and activations).
MAX_MATRIX_BYTES = 1 << 30


class AutoRecModel(tfrs.models.Model):
    """The AutoRec network, trained on titles' rating vectors.

    Args:
        num_users: Length of a title's rating vector (the user vocabulary).
        config: ``autorec_hidden_units`` and ``autorec_l2`` (λ).
        observed: Training ratings, to scale λ to the mean loss per rating.

    Input features: ``ratings`` [B, num_users], the titles' training ratings
    (the encoder's input), and ``targets`` [B, num_users], the ratings the
    loss compares with (the same in training, held-out ones in validation);
    0 means unrated.
    """

    def __init__(self, num_users: int, config: RankingConfig, observed: int) -> None:
        super().__init__()
        self.encoder = tf.keras.layers.Dense(config.autorec_hidden_units, activation="sigmoid")
        # Zero initial biases, as AutoRec: starting the decoder at the mean
        # rating converged to a worse validation RMSE on MovieLens (0.900 against 0.895).
        self.decoder = tf.keras.layers.Dense(num_users, dtype="float32")
        # The loss is a mean over ratings, AutoRec's a sum: λ/2 is divided by their number.
        self.l2 = config.autorec_l2 / (2 * observed)
        self.task = tfrs.tasks.Ranking(loss=MeanSquaredError(),
                                       metrics=[tf.keras.metrics.RootMeanSquaredError(name="rmse")])

    def call(self, ratings: tf.Tensor) -> tf.Tensor:
        return self.decoder(self.encoder(ratings))

    def compute_loss(self, features: dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        targets = features["targets"]
        observed = targets > 0
        predictions = tf.boolean_mask(self(features["ratings"]), observed)
        loss = self.task(labels=tf.boolean_mask(targets, observed)[:, None], predictions=predictions[:, None])
        penalty = self.l2 * (tf.reduce_sum(tf.square(self.encoder.kernel))
                             + tf.reduce_sum(tf.square(self.decoder.kernel)))
        return loss + tf.nn.scale_regularization_loss(penalty)  # counted once across replicas

    def tables(self, ratings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The serving tables: title rows ``[code, 1]`` and user rows ``[W[:, u], c_u]``.

        Row 0 of each is for ids outside the vocabulary: a title nobody
        rated (the code of an all-zero input) and the mean user.

        Args:
            ratings: [titles, users] training ratings, the encoder's input.

        Returns:
            ``(title_rows [titles + 1, hidden + 1], user_rows [users + 1, hidden + 1])``,
            float32; a pair's rating is the dot product of its two rows.
        """
        inputs = np.vstack([np.zeros((1, ratings.shape[1]), np.float32), ratings])
        codes = tf.cast(self.encoder(tf.constant(inputs)), tf.float32).numpy()
        title_rows = np.hstack([codes, np.ones((len(codes), 1), np.float32)])
        user_rows = np.hstack([self.decoder.kernel.numpy().T, self.decoder.bias.numpy()[:, None]])
        return title_rows, np.vstack([user_rows.mean(axis=0), user_rows]).astype(np.float32)


@dataclass(frozen=True)
class HeldOutFit:
    """AutoRec fitted without the validation ratings (the fit that chose the epochs), and that split.

    What the history model's fold-in settings are chosen on: these codes never saw ``validation``.

    Attributes:
        title_rows: [titles + 1, hidden + 1] ``AutoRecModel.tables``'s title rows.
        prior_row: [hidden + 1] its mean user's row.
        fit_part: The training ratings it was fitted on.
        validation: The training ratings it held out.
    """

    title_rows: np.ndarray
    prior_row: np.ndarray
    fit_part: data.Columns
    validation: data.Columns


class AutoRecRanker(tf.keras.Model):
    """What the ranker SavedModel and the edge model compute: lookups and one dot product.

    Args:
        user_ids, movie_titles: Vocabularies (inside the model, as the tutorial's ranker).
        title_rows, user_rows: ``AutoRecModel.tables``, the out-of-vocabulary
            row first: an unknown title gets the code of an unrated title, an
            unknown user the mean user row.
        rating_range: Predictions are clipped to the data's rating scale.

    ``call`` and ``score`` have the tutorial ranker's contract (see ``trainer.ranking``).
    ``train_autorec`` sets ``held_out_fit`` (``HeldOutFit``); it is not exported.
    """

    def __init__(self, user_ids: np.ndarray, movie_titles: np.ndarray, title_rows: np.ndarray,
                 user_rows: np.ndarray, rating_range: tuple[float, float]) -> None:
        super().__init__()
        self.user_lookup = tf.keras.layers.StringLookup(vocabulary=user_ids, mask_token=None)
        self.title_lookup = tf.keras.layers.StringLookup(vocabulary=movie_titles, mask_token=None)
        self.user_rows = tf.keras.layers.Embedding(*user_rows.shape, weights=[user_rows], trainable=False)
        self.title_rows = tf.keras.layers.Embedding(*title_rows.shape, weights=[title_rows], trainable=False)
        self.rating_range = tuple(float(bound) for bound in rating_range)

    def architecture(self) -> dict:
        """Vocabulary sizes (without the out-of-vocabulary row) and row sizes; no dense layers."""
        (users, user_dim), (titles, title_dim) = self.user_rows.embeddings.shape, self.title_rows.embeddings.shape
        return {"model": "autorec", "user_vocabulary": users - 1, "title_vocabulary": titles - 1,
                "user_embedding": user_dim, "title_embedding": title_dim, "dense": []}

    def _clip(self, ratings: tf.Tensor) -> tf.Tensor:
        return tf.clip_by_value(ratings, *self.rating_range)

    def call(self, features: dict[str, tf.Tensor]) -> tf.Tensor:
        users = self.user_rows(self.user_lookup(features[USER_INPUT]))
        titles = self.title_rows(self.title_lookup(features[TITLE_INPUT]))
        return self._clip(tf.reduce_sum(users * titles, axis=-1, keepdims=True))

    def score(self, user_id: tf.Tensor, movie_title: tf.Tensor) -> dict[str, tf.Tensor]:
        """One user against N titles: [1] and [N] strings -> ``rating`` [N], ``user_known`` [1], ``title_known`` [N]."""
        user_index, title_index = self.user_lookup(user_id), self.title_lookup(movie_title)
        ratings = tf.matmul(self.title_rows(title_index), self.user_rows(user_index), transpose_b=True)
        return {
            RATING_OUTPUT: self._clip(tf.reshape(ratings, [-1])),
            USER_KNOWN_OUTPUT: tf.reshape(user_index > 0, [1]),
            TITLE_KNOWN_OUTPUT: tf.reshape(title_index > 0, [-1]),
        }


def rating_matrix(ratings: data.Columns, user_ids: np.ndarray, movie_titles: np.ndarray) -> np.ndarray:
    """[titles, users] float32 matrix of ``ratings`` (0 where unrated); ids outside the vocabularies are ignored."""
    users, titles, values = baselines.Index(user_ids, movie_titles).cells(ratings)
    matrix = np.zeros((len(movie_titles), len(user_ids)), np.float32)
    matrix[titles, users] = values
    return matrix


def _fit(inputs: np.ndarray, config: RankingConfig, seed: int, epochs: int, verbose: int,
         strategy: tf.distribute.Strategy | None, validation: np.ndarray | None = None,
         ) -> tuple[AutoRecModel, tf.keras.callbacks.History]:
    tf.keras.utils.set_random_seed(seed)
    with (strategy or tf.distribute.get_strategy()).scope():
        model = AutoRecModel(inputs.shape[1], config, observed=int((inputs > 0).sum()))
        model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=config.autorec_learning_rate))

    def batches(targets: np.ndarray) -> tf.data.Dataset:
        # One full batch per epoch, as AutoRec trains.
        return tf.data.Dataset.from_tensor_slices({"ratings": inputs, "targets": targets}).batch(len(inputs)).cache()

    callbacks = []
    if validation is not None:
        callbacks.append(tf.keras.callbacks.EarlyStopping(
            monitor="val_rmse", patience=config.autorec_patience, restore_best_weights=True))
    verbose, bar = fit_progress(verbose, epochs, "AutoRec epochs")
    history = model.fit(batches(inputs), epochs=epochs, verbose=verbose, callbacks=callbacks + bar,
                        validation_data=None if validation is None else batches(validation))
    return model, history


def train_autorec(
    train: data.Columns,
    test: data.Columns,
    user_ids: np.ndarray,
    movie_titles: np.ndarray,
    config: RankingConfig,
    seed: int,
    verbose: int = 1,
    strategy: tf.distribute.Strategy | None = None,
) -> tuple[AutoRecRanker, dict[str, float]]:
    """Chooses the epochs on a validation split, trains on all training ratings, evaluates on the test split.

    Args:
        train, test: Rating columns ``user_id``, ``movie_title``, ``user_rating``.
        user_ids, movie_titles: Vocabularies.
        config: ``autorec_*`` hyperparameters and ``validation_fraction``.
        seed: Seeds the validation split, weight initialisation and TensorFlow.
        verbose: Keras ``fit`` verbosity.
        strategy: Where to train; ``None`` is the default strategy.

    Returns:
        The serving model and ``{"rmse": test RMSE, "epochs": chosen epochs,
        "validation_rmse": its validation RMSE}``. The model's ``held_out_fit``
        (``HeldOutFit``) keeps the fit that chose the epochs.

    Raises:
        ConfigError: The rating matrix would exceed ``MAX_MATRIX_BYTES``
            (MovieLens 20M and 25M; 100K, 1M and latest-small fit).
    """
    matrix_bytes = 4 * len(movie_titles) * len(user_ids)
    if matrix_bytes > MAX_MATRIX_BYTES:
        raise ConfigError(f"AutoRec holds the {len(movie_titles):,} titles × {len(user_ids):,} users rating matrix in "
                          f"memory ({matrix_bytes / 2**30:.1f} GiB, over {MAX_MATRIX_BYTES / 2**30:.0f} GiB): "
                          "use --ranking-model tutorial on a catalogue this large")
    fit_part, validation = data.validation_split(train, config.validation_fraction, seed)
    inputs = rating_matrix(fit_part, user_ids, movie_titles)
    held_out_model, history = _fit(inputs, config, seed, config.autorec_max_epochs, verbose, strategy,
                                   validation=rating_matrix(validation, user_ids, movie_titles))
    held_out_titles, held_out_users = held_out_model.tables(inputs)
    scores = history.history["val_rmse"]
    epochs = int(np.argmin(scores)) + 1
    log.info("AutoRec: %d epochs chosen on the validation split (RMSE %.4f)", epochs, scores[epochs - 1])

    inputs = rating_matrix(train, user_ids, movie_titles)
    model, _ = _fit(inputs, config, seed, epochs, verbose, strategy)
    title_rows, user_rows = model.tables(inputs)
    scale = (float(train["user_rating"].min()), float(train["user_rating"].max()))
    with float32_policy():
        ranker = AutoRecRanker(user_ids, movie_titles, title_rows, user_rows, scale)
    ranker.held_out_fit = HeldOutFit(held_out_titles, held_out_users[0], fit_part, validation)
    predicted = ranker({USER_INPUT: tf.constant(test["user_id"]), TITLE_INPUT: tf.constant(test["movie_title"])})
    rmse = metrics.rmse(predicted.numpy().reshape(-1), test["user_rating"])
    return ranker, {"rmse": rmse, "epochs": epochs, "validation_rmse": float(scores[epochs - 1])}
