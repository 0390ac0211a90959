"""Item-based AutoRec (Sedhain et al., 2015): the ranker that beats the classic baselines.

Training: each title is the vector of its ratings by every user (0 where
unrated). An encoder ``sigmoid(r_i V + b)`` squeezes it into a hidden code and
a decoder ``code W + c`` reconstructs it; the loss is the squared error on the
observed ratings (TFRS's ``Ranking`` task) plus AutoRec's L2 penalty
``λ/2 (‖V‖² + ‖W‖²)``. Adam; the number of epochs is chosen by early stopping
on a validation split carved out of the training ratings, then the model is
retrained on all of them for that many epochs (on one full batch; see below
for larger logs).

The title vectors stay sparse (``trainer.sparse_rows``) and arrive a batch at
a time as a ``tf.SparseTensor``. An epoch is one full batch, as AutoRec
trains, up to ``autorec_batch_ratings`` ratings (MovieLens 100K); a larger
log is cut into n batches of titles (``epoch_batches``: at least
``autorec_epoch_batches``, more where a batch would hold more than
``autorec_batch_ratings``), and its epoch limits (``autorec_max_epochs``,
``autorec_patience``) count full batches: n steps are an epoch's worth. Such
a log steps at ``autorec_batched_learning_rate`` / n: Adam moves each weight
by about its step size every step, so an epoch moves it about as far however
many batches it is cut into. On the 2.5M-rating planted log in 73 batches, the
0.002 a step that trained it well in 10 stalled at a validation RMSE of 0.86;
0.02 / 73 reached 0.739, and in 10 batches 0.02 / 10 stopped at 0.755. Its
decoder starts at the mean rating, not at zero as AutoRec's (and ours on one
full batch: on MovieLens 100K the mean converged to a worse validation RMSE,
0.900 against 0.895); in 10 batches, starting from zero took 50 epochs to
reach the biases' RMSE, from the mean one. And it is not retrained: its
early-stopped fit (the best epoch's weights) serves. There the retrained
model's last epoch tested worse (RMSE 0.7752 against 0.7577; the history
model's 0.7526 against 0.7403), and retraining doubles the time. How a step
computes depends on the log's density:

* Sparse logs (under ``DENSE_DENSITY`` of the cells rated; MovieLens 25M has
  0.26%): the encoder multiplies the sparse batch (``sparse_dense_matmul``;
  Keras' ``Dense`` looks a sparse input up cell by cell, a [cells, hidden]
  copy of the kernel's rows), and the decoder is evaluated only at the
  batch's observed (title, user) cells, one gathered dot product each
  (``observed_cells``), so no step holds anything of size titles × users.
* Dense ones (MovieLens 100K: 6.3%): the batch is made dense inside the
  step and decoded whole, then the observed cells are picked; there BLAS is
  several times faster than gathering (the whole MovieLens 100K training takes
  82 s, against 245 s gathered, to the same figures), and a batch's dense copy
  is at most ``autorec_batch_ratings`` / ``DENSE_DENSITY`` floats.

Serving: user u's predicted rating of title i is ``code_i · W[:, u] + c_u``.
The codes depend only on the training ratings, so they are computed once and
exported as a table: ``AutoRecRanker`` holds the vocabularies, one row
``[code_i, 1]`` per title and one row ``[W[:, u], c_u]`` per user, and scores
a pair with one dot product, on device too (built-in TFLite ops only).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs
from scipy import sparse

from edge_runtime.contract import RATING_OUTPUT, TITLE_INPUT, TITLE_KNOWN_OUTPUT, USER_INPUT, USER_KNOWN_OUTPUT
from interactions import metrics
from trainer import baselines, data, distribution, sparse_rows
from trainer.config import RankingConfig
from trainer.progress import fit_progress
from trainer.ranking import MeanSquaredError
from trainer.towers import float32_policy

log = logging.getLogger(__name__)

#: What TFRS's steps return as each replica's share already (``distribution.replica_shares``).
TFRS_LOSSES = ("loss", "regularization_loss", "total_loss")
#: From this share of (title, user) cells rated, a step works on its batch made dense (see the module docstring).
DENSE_DENSITY = 0.01
#: Test pairs scored at a time.
TEST_BATCH = 65_536


class AutoRecModel(tfrs.models.Model):
    """The AutoRec network, trained on titles' rating vectors.

    Args:
        num_users: Length of a title's rating vector (the user vocabulary).
        config: ``autorec_hidden_units`` and ``autorec_l2`` (λ).
        observed: Training ratings, to scale λ to the mean loss per rating.
        dense_batches: Make each batch dense inside the step (a dense log; see the module docstring).
        start_rating: The decoder's initial bias, every user's first prediction.

    Input features, both ``tf.SparseTensor`` [B, num_users] (a stored cell is
    a rating): ``ratings``, the titles' training ratings (the encoder's input),
    and ``targets``, the ratings the loss compares with (the same in training,
    held-out ones in validation).
    """

    def __init__(self, num_users: int, config: RankingConfig, observed: int, dense_batches: bool,
                 start_rating: float = 0.0) -> None:
        super().__init__()
        self.dense_batches = dense_batches
        hidden = config.autorec_hidden_units
        self.encoder = tf.keras.layers.Dense(hidden, activation="sigmoid")
        self.encoder.build((None, num_users))
        # The decoder's kernel is stored a user per row, [users, hidden], as the steps gather it: gathering the
        # columns of a [hidden, users] kernel took 0.65 s a step at 162,541 users, rows 0.14 s. Drawn as a Dense
        # layer's [hidden, users] kernel and transposed: the same initial weights.
        glorot = tf.keras.initializers.GlorotUniform()
        self.decoder_kernel = self.add_weight(
            name="decoder_kernel", shape=(num_users, hidden),
            initializer=lambda shape, dtype=None: tf.transpose(glorot((shape[1], shape[0]), dtype)))
        self.decoder_bias = self.add_weight(name="decoder_bias", shape=(num_users,),
                                            initializer=tf.keras.initializers.Constant(start_rating))
        # The loss is a mean over ratings, AutoRec's a sum: λ/2 is divided by their number.
        self.l2 = config.autorec_l2 / (2 * observed)
        self.task = tfrs.tasks.Ranking(loss=MeanSquaredError(),
                                       metrics=[tf.keras.metrics.RootMeanSquaredError(name="rmse")])

    def call(self, ratings: tf.SparseTensor) -> tf.Tensor:
        """[B, num_users] sparse ratings -> [B, hidden] codes (float32)."""
        if self.dense_batches:
            return tf.cast(self.encoder(tf.sparse.to_dense(ratings)), tf.float32)
        kernel, bias = tf.convert_to_tensor(self.encoder.kernel), tf.convert_to_tensor(self.encoder.bias)
        codes = tf.sparse.sparse_dense_matmul(tf.cast(ratings, kernel.dtype), kernel) + bias
        return tf.cast(self.encoder.activation(codes), tf.float32)

    def compute_loss(self, features: dict[str, tf.SparseTensor], training: bool = False) -> tf.Tensor:
        targets = features["targets"]
        codes = self(features["ratings"])
        if self.dense_batches:  # the whole batch decoded, then its observed cells (row-major: targets.values' order)
            observed = tf.sparse.to_dense(tf.SparseTensor(targets.indices, tf.ones_like(targets.values),
                                                          targets.dense_shape)) > 0
            decoded = tf.matmul(codes, self.decoder_kernel, transpose_b=True) + self.decoder_bias
            predictions = tf.boolean_mask(decoded, observed)
        else:  # the decoder at the observed cells only: code_t · W[:, u] + c_u
            titles, users = targets.indices[:, 0], targets.indices[:, 1]
            predictions = observed_cells(codes, self.decoder_kernel, titles, users)
            predictions += tf.gather(self.decoder_bias, users)
        loss = self.task(labels=targets.values[:, None], predictions=predictions[:, None])
        penalty = self.l2 * (tf.reduce_sum(tf.square(self.encoder.kernel))
                             + tf.reduce_sum(tf.square(self.decoder_kernel)))
        return loss + tf.nn.scale_regularization_loss(penalty)  # counted once across replicas

    def train_step(self, inputs: dict[str, tf.SparseTensor]) -> dict[str, tf.Tensor]:
        return distribution.replica_shares(super().train_step(inputs), TFRS_LOSSES)

    def test_step(self, inputs: dict[str, tf.SparseTensor]) -> dict[str, tf.Tensor]:
        return distribution.replica_shares(super().test_step(inputs), TFRS_LOSSES)

    def tables(self, ratings: sparse.csr_matrix, titles_per_batch: int) -> tuple[np.ndarray, np.ndarray]:
        """The serving tables: title rows ``[code, 1]`` and user rows ``[W[:, u], c_u]``.

        Row 0 of each is for ids outside the vocabulary: a title nobody
        rated (the code of an all-zero input) and the mean user.

        Args:
            ratings: [titles, users] training ratings, the encoder's input.
            titles_per_batch: Titles encoded at a time.

        Returns:
            ``(title_rows [titles + 1, hidden + 1], user_rows [users + 1, hidden + 1])``,
            float32; a pair's rating is the dot product of its two rows.
        """
        inputs = sparse.vstack([sparse.csr_matrix((1, ratings.shape[1]), dtype=np.float32), ratings], format="csr")
        batches = sparse_rows.row_batches(titles_per_batch, ratings=inputs)
        codes = np.concatenate([self(batch["ratings"]).numpy() for batch in batches])
        title_rows = np.hstack([codes, np.ones((len(codes), 1), np.float32)])
        user_rows = np.hstack([self.decoder_kernel.numpy(), self.decoder_bias.numpy()[:, None]])
        return title_rows, np.vstack([user_rows.mean(axis=0), user_rows]).astype(np.float32, copy=False)


def observed_cells(codes: tf.Tensor, kernel: tf.Tensor, titles: tf.Tensor, users: tf.Tensor) -> tf.Tensor:
    """The decoder's products at the observed cells: ``codes[titles[i]] · kernel[users[i]]`` for each i.

    Args:
        codes: [B, hidden] the batch's title codes.
        kernel: [users, hidden] the decoder's kernel, a user per row.
        titles, users: [cells] each observed cell's row in ``codes`` and in ``kernel``.

    Returns:
        [cells] the products. Their gradient gathers the rows again, one side at a time, instead of keeping
        the forward pass's gathered [cells, hidden] copies for it (0.5 GB each at MovieLens 25M's size); the
        kernel's is ``IndexedSlices``. With the encoder's sparse product, a step's peak there went from 4.40 to
        3.78 GB (TensorFlow's count), the same gradients.
    """
    @tf.custom_gradient
    def products(codes: tf.Tensor, kernel: tf.Tensor) -> tuple[tf.Tensor, Callable]:
        def gradient(upstream: tf.Tensor) -> tuple[tf.Tensor, tf.IndexedSlices]:
            upstream = upstream[:, None]
            codes_gradient = tf.math.unsorted_segment_sum(upstream * tf.gather(kernel, users), titles,
                                                          tf.shape(codes)[0])
            with tf.control_dependencies([codes_gradient]):  # one [cells, hidden] pair alive at a time
                kernel_rows = upstream * tf.gather(codes, titles)
            return codes_gradient, tf.IndexedSlices(kernel_rows, users, tf.shape(kernel))

        return tf.reduce_sum(tf.gather(codes, titles) * tf.gather(kernel, users), axis=1), gradient

    return products(codes, kernel)


@dataclass(frozen=True)
class HeldOutFit:
    """AutoRec fitted without the validation ratings (the fit that chose the epochs), and that split.

    What the history model's fold-in settings are chosen on: these codes never saw the held-out ratings.

    Attributes:
        title_rows: [titles + 1, hidden + 1] ``AutoRecModel.tables``'s title rows.
        prior_row: [hidden + 1] its mean user's row.
        train: The training ratings (the caller's columns: copies of both parts, kept until the history
            model is built, took a gigabyte at 25M ratings).
        held_out: [training ratings] bool: the validation split (``data.validation_mask``); it was fitted on
            the rest.
    """

    title_rows: np.ndarray
    prior_row: np.ndarray
    train: data.Columns
    held_out: np.ndarray


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


def rating_matrix(ratings: data.Columns, user_ids: np.ndarray, movie_titles: np.ndarray,
                  which: np.ndarray | None = None) -> sparse.csr_matrix:
    """[titles, users] sparse ratings (``sparse_rows.interaction_rows``); ids outside the vocabularies are ignored.

    ``which`` (a boolean mask over the rows), when given, keeps only those rows.
    """
    users, titles, values = baselines.Index(user_ids, movie_titles).cells(ratings, which)
    return sparse_rows.interaction_rows(titles, users, values, (len(movie_titles), len(user_ids)))


def epoch_batches(inputs: sparse.csr_matrix, config: RankingConfig) -> int:
    """Batches of titles an epoch of ``inputs`` is cut into.

    1 (one full batch, as AutoRec trains) up to ``autorec_batch_ratings`` ratings; past that, at least
    ``autorec_epoch_batches``, and more where a batch would hold more than ``autorec_batch_ratings``. Batches
    hold equal numbers of titles (``batch_titles``), so 100 titles asked into 64 make 50 batches of 2.
    """
    if inputs.nnz <= config.autorec_batch_ratings:
        return 1
    wanted = max(config.autorec_epoch_batches, -(-inputs.nnz // config.autorec_batch_ratings))
    return -(-inputs.shape[0] // batch_titles(inputs.shape[0], wanted))


def batch_titles(titles: int, batches: int) -> int:
    """Titles in each of ``batches`` batches (the last may hold fewer)."""
    return -(-titles // batches)


def in_epochs(steps: int, batches: int) -> int:
    """Epochs of ``batches`` batches that make about ``steps`` optimizer steps (the epoch limits count full batches)."""
    return max(1, -(-steps // batches))


def learning_rate(batches: int, config: RankingConfig) -> float:
    """Adam's step size: ``autorec_learning_rate`` on one full batch, else the batched rate shared by an epoch's steps."""
    return config.autorec_learning_rate if batches == 1 else config.autorec_batched_learning_rate / batches


def _fit(inputs: sparse.csr_matrix, config: RankingConfig, seed: int, epochs: int, batches: int, verbose: int,
         strategy: tf.distribute.Strategy | None, validation: sparse.csr_matrix | None = None,
         ) -> tuple[AutoRecModel, tf.keras.callbacks.History]:
    tf.keras.utils.set_random_seed(seed)
    size, full_batch = batch_titles(inputs.shape[0], batches), batches == 1
    with (strategy or tf.distribute.get_strategy()).scope():
        dense = inputs.nnz >= DENSE_DENSITY * inputs.shape[0] * inputs.shape[1]
        model = AutoRecModel(inputs.shape[1], config, observed=inputs.nnz, dense_batches=dense,
                             start_rating=0.0 if full_batch else float(inputs.data.mean()))
        # Keras 2's legacy Adam: one fused kernel a variable, 0.16 s a step on the two 162,541 × 500 matrices,
        # against 0.52 s for the current one; the same update (MovieLens 100K trains to the same figures).
        model.compile(optimizer=tf.keras.optimizers.legacy.Adam(learning_rate=learning_rate(batches, config)))

    def dataset(targets: sparse.csr_matrix | None, shuffle: bool) -> tf.data.Dataset:
        """Batches of ``ratings`` and ``targets`` (``None``: the ratings themselves, held once)."""
        matrices = {"ratings": inputs} if targets is None else {"ratings": inputs, "targets": targets}
        if full_batch:  # one full batch per epoch, as AutoRec trains
            rows = sparse_rows.row_batches(size, **matrices).cache()
        else:
            rows = sparse_rows.row_batches(size, seed if shuffle else None, **matrices).prefetch(tf.data.AUTOTUNE)
        return rows if targets is not None else rows.map(lambda batch: {**batch, "targets": batch["ratings"]})

    callbacks = []
    if validation is not None:
        callbacks.append(tf.keras.callbacks.EarlyStopping(
            monitor="val_rmse", patience=in_epochs(config.autorec_patience, batches),
            restore_best_weights=True))
    verbose, bar = fit_progress(verbose, epochs, "AutoRec epochs")
    history = model.fit(dataset(None, shuffle=True), epochs=epochs, verbose=verbose, callbacks=callbacks + bar,
                        validation_data=None if validation is None else dataset(validation, shuffle=False))
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

    A log trained in batches of titles is not retrained: its fit on the rest of the training ratings serves,
    with its best epoch's weights (see the module docstring).

    Args:
        train, test: Rating columns ``user_id``, ``movie_title``, ``user_rating``.
        user_ids, movie_titles: Vocabularies.
        config: ``autorec_*`` hyperparameters and ``validation_fraction``.
        seed: Seeds the validation split, weight initialisation and TensorFlow.
        verbose: Keras ``fit`` verbosity.
        strategy: Where to train; ``None`` is the default strategy.

    Returns:
        The serving model and ``{"rmse": test RMSE, "epochs": chosen epochs,
        "validation_rmse": its validation RMSE, "train_loss": that epoch's training loss}``. The model's
        ``held_out_fit`` (``HeldOutFit``) keeps the fit that chose the epochs.
    """
    held_out = data.validation_mask(len(train["user_id"]), config.validation_fraction, seed)
    inputs, validation = (rating_matrix(train, user_ids, movie_titles, part) for part in (~held_out, held_out))
    batches = epoch_batches(inputs, config)
    held_out_titles, held_out_users, curves = _fitted_tables(
        inputs, config, seed, in_epochs(config.autorec_max_epochs, batches), batches, verbose, strategy, validation)
    scores = curves["val_rmse"]
    epochs = int(np.argmin(scores)) + 1
    log.info("AutoRec: %d epochs chosen on the validation split (RMSE %.4f)", epochs, scores[epochs - 1])

    if batches > 1:  # the best epoch's weights serve
        title_rows, user_rows = held_out_titles, held_out_users
    else:  # retrained in one full batch too, as the epochs were chosen (even a little past autorec_batch_ratings)
        title_rows, user_rows, curves = _fitted_tables(rating_matrix(train, user_ids, movie_titles), config, seed,
                                                       epochs, 1, verbose, strategy)
    scale = (float(train["user_rating"].min()), float(train["user_rating"].max()))
    with float32_policy():
        ranker = AutoRecRanker(user_ids, movie_titles, title_rows, user_rows, scale)
    ranker.held_out_fit = HeldOutFit(held_out_titles, held_out_users[0], train, held_out)
    # The test pairs a batch at a time: all at once, their gathered rows alone took 3 GB at 500,000 pairs.
    predicted = np.concatenate([ranker({USER_INPUT: tf.constant(test["user_id"][start:start + TEST_BATCH]),
                                        TITLE_INPUT: tf.constant(test["movie_title"][start:start + TEST_BATCH])}
                                       ).numpy().reshape(-1) for start in range(0, len(test["user_id"]), TEST_BATCH)]
                               or [np.empty(0, np.float32)])
    rmse = metrics.rmse(predicted, test["user_rating"])
    return ranker, {"rmse": rmse, "epochs": epochs, "validation_rmse": float(scores[epochs - 1]),
                    "train_loss": float(curves["loss"][epochs - 1])}


def _fitted_tables(inputs: sparse.csr_matrix, config: RankingConfig, seed: int, epochs: int, batches: int,
                   verbose: int, strategy: tf.distribute.Strategy | None, validation: sparse.csr_matrix | None = None,
                   ) -> tuple[np.ndarray, np.ndarray, dict[str, list[float]]]:
    """Fits AutoRec (``_fit``, ``batches`` an epoch) and keeps what serves: ``(title rows, user rows, metric curves)``.

    The network itself is freed on the way out: its weights, Adam's slots and early stopping's best weights
    (2.6 GB at 162,541 users). It and its Keras History refer to each other, so only the cycle collector frees
    them, and left to itself it ran too rarely: they were held through every later stage.
    """
    model, history = _fit(inputs, config, seed, epochs, batches, verbose, strategy, validation)
    title_rows, user_rows = model.tables(inputs, batch_titles(inputs.shape[0], batches))
    curves = history.history
    del model, history
    gc.collect()
    return title_rows, user_rows, curves
