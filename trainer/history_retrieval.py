"""Retrieval from the user's own history: pooled title embeddings against the catalogue.

A user is the titles they rated, never an id: their vector is the sum of
those titles' input embeddings divided by the square root of their number,
and a title's score is that vector's dot product with the title's output
embedding plus a per-title bias. Everything is one row per title, so the
device model (``trainer.history``) computes it from the history alone. The
server's retrieval model (``--retrieval-model history``) serves the same
scores behind ScaNN: ``RetrievalTables.queries`` appends a 1 to each pooled
vector and ``candidates`` the bias to each output embedding, so the score
is one dot product.

Training follows the denoising recipe of Mult-DAE (Liang et al., 2018) with
the full-softmax loss of ``trainer.retrieval``: each epoch, every user's
training titles are split at random into a visible part (``keep``), which
makes the vector, and the rest, the targets. Each target is a softmax over
itself and every title the user has not rated (the visible titles count as
negatives with weight ``visible_negatives``). A second term is implicit
ALS's weighted squared error (Hu, Koren and Volinsky, 2008) on the same
scores: preference 1 with weight ``1 + confidence`` for a target, 0 with
weight 1 for every title the user has not rated, the visible titles left out.
With implicit feedback (weights: plays, clicks) that term is ALS's with its
confidence weights: a target's ``confidence`` is scaled by ``log1p(weight)``
over that quantity's training mean, so the items a user played most pull
hardest and the average one as a rating does (chosen on Last.fm 2K's
validation split over weighting both terms, their square roots, or neither).
Plus L2 on the embeddings. The term's weight, ``confidence`` and the L2
were chosen together on the validation split. The number of epochs is
chosen by early stopping on the validation top-10 of the titles the user
has not rated, then the model is retrained on all training ratings for
that many epochs. A log of more users than ``HistoryConfig.epoch_users``
(16,384) trains in epochs of that many users' batches, the shuffled passes
running on across them, and validates each on that many users with held-out
ratings: at MovieLens 25M's 162,541 users a whole pass took 3.5 minutes,
and 20 of them of patience over an hour. Such a log is not retrained: the
early-stopped fit (its best epoch's weights) serves, as AutoRec's does on a
log cut into batches: at that size retraining took 13 of its 45 minutes,
for a test top-100 of 0.2267 against 0.2209.

The user histories stay sparse (``trainer.sparse_rows``): each batch of users
is made dense inside the input pipeline, and the test figures score users a
block at a time, so nothing of size users × titles is ever held.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import tensorflow as tf
from scipy import sparse

from interactions import metrics
from trainer import baselines, data, distribution, sparse_rows
from trainer.config import HistoryConfig
from trainer.progress import fit_progress

log = logging.getLogger(__name__)

#: The cut-off early stopping watches: top-10 of the titles the user has not rated (what a user is shown).
VALIDATION_K = 10
VALIDATION_METRIC = f"val_unseen_top_{VALIDATION_K}"
#: Users scored at a time when computing test figures (bounds memory at this many × titles floats).
SCORING_BLOCK = 512


@dataclass(frozen=True)
class RetrievalTables:
    """The trained tables, row 0 for titles outside the vocabulary (never a candidate).

    Attributes:
        inputs: [titles + 1, dim] embeddings a history is pooled from.
        outputs: [titles + 1, dim] embeddings the pooled vector scores.
        bias: [titles + 1] per-title score offsets.
    """

    inputs: np.ndarray
    outputs: np.ndarray
    bias: np.ndarray

    def queries(self, histories: sparse.spmatrix | np.ndarray) -> np.ndarray:
        """[users, titles + 1] rating rows (``rating_rows``) -> [users, dim + 1]: each pooled vector and a 1.

        With ``candidates`` the score is one dot product, what a nearest-neighbour
        index (the server's ScaNN) searches. An empty history gives ``[0, …, 0, 1]``:
        the biases alone.
        """
        histories = sparse.csr_matrix(histories)
        # Each rated cell as a 1, on the rows' own indices (at 20M cells a sliced or compared copy is 0.2 GB each).
        rated = sparse.csr_matrix(((histories.data > 0).astype(np.float32), histories.indices, histories.indptr),
                                  shape=histories.shape)
        counts = np.asarray(rated.sum(axis=1), np.float32)
        inputs = np.concatenate([np.zeros_like(self.inputs[:1]), self.inputs[1:]])  # column 0 pools nothing
        pooled = np.asarray(rated @ inputs, np.float32) / np.sqrt(np.maximum(counts, 1.0))
        return np.concatenate([pooled, np.ones((len(pooled), 1), np.float32)], axis=1)

    def candidates(self) -> np.ndarray:
        """[titles, dim + 1]: each title's output embedding with its bias as the last entry."""
        return np.concatenate([self.outputs[1:], self.bias[1:, None]], axis=1)

    def scores(self, histories: sparse.spmatrix | np.ndarray) -> np.ndarray:
        """[users, titles + 1] rating rows -> [users, titles] retrieval scores (dense: pass a block of users)."""
        return self.queries(histories) @ self.candidates().T


class HistoryRetrieval(tf.keras.Model):
    """The pooled-history model, trained on rows of the [users, titles + 1] rating matrix.

    Args:
        titles: Catalogue size (without the out-of-vocabulary row).
        config: ``embedding_dim``, ``keep``, ``visible_negatives``, ``squared_error_weight``, ``confidence``, ``l2``.
        seed: Seeds the visible/target draws.
        target_strength: Implicit feedback: the training mean of log1p(weight), which scales each target's
            confidence in the squared error; 0 for ratings (every target alike).

    ``fit`` takes batches of rating rows; ``evaluate`` takes ``(history rows,
    target rows)`` and reports ``unseen_top_10``: the share of target ratings
    whose title is among the user's 10 best-scored titles they have not rated.
    """

    def __init__(self, titles: int, config: HistoryConfig, seed: int, target_strength: float = 0.0) -> None:
        super().__init__()
        initializer = tf.keras.initializers.RandomNormal(stddev=0.05, seed=seed)
        self.inputs_table = self.add_weight(name="inputs", shape=[titles + 1, config.embedding_dim],
                                            initializer=initializer)
        self.outputs_table = self.add_weight(name="outputs", shape=[titles + 1, config.embedding_dim],
                                             initializer=tf.keras.initializers.RandomNormal(stddev=0.05, seed=seed + 1))
        self.bias = self.add_weight(name="bias", shape=[titles + 1], initializer="zeros")
        self.keep, self.l2, self.seed = config.keep, config.l2, seed
        self.squared_error_weight, self.confidence = config.squared_error_weight, config.confidence
        self.visible_log_weight = float(np.log(config.visible_negatives)) if config.visible_negatives > 0 else -1e9
        self.target_strength = target_strength
        self.loss_tracker = tf.keras.metrics.Mean(name="loss")
        self.top_k = tf.keras.metrics.Mean(name=f"unseen_top_{VALIDATION_K}")

    @property
    def metrics(self) -> list[tf.keras.metrics.Metric]:
        return [self.loss_tracker, self.top_k]

    def call(self, histories: tf.Tensor) -> tf.Tensor:
        """[B, titles + 1] ratings (0: unrated) -> [B, titles + 1] scores."""
        rated = tf.cast(histories > 0, tf.float32)
        pooled = tf.matmul(rated, self.inputs_table) / tf.sqrt(tf.maximum(tf.reduce_sum(rated, 1, keepdims=True), 1.0))
        return tf.matmul(pooled, self.outputs_table, transpose_b=True) + self.bias

    def train_step(self, histories: tf.Tensor) -> dict[str, tf.Tensor]:
        rated = histories[:, 1:] > 0
        seed = tf.stack([tf.constant(self.seed, tf.int64), self.optimizer.iterations])
        visible = rated & (tf.random.stateless_uniform(tf.shape(rated), seed) < self.keep)
        targets = tf.cast(rated & ~visible, tf.float32)
        strength = targets
        if self.target_strength:  # implicit feedback: ALS confidence, log1p(weight) over its training mean
            strength = targets * tf.math.log1p(histories[:, 1:]) / self.target_strength
        with tf.GradientTape() as tape:
            scores = self(tf.pad(tf.where(visible, histories[:, 1:], 0.0), [[0, 0], [1, 0]]), training=True)[:, 1:]
            # log Σ exp over the negatives: the titles the user has not rated, and the visible ones weighted.
            unrated = tf.reduce_logsumexp(tf.where(rated, tf.where(visible, scores + self.visible_log_weight, -1e9),
                                                   scores), axis=1, keepdims=True)
            # Each target against itself and the unrated titles: -log(e^s / (e^s + Σ)) = softplus(log Σ - s).
            loss = tf.reduce_sum(tf.nn.softplus(unrated - scores) * targets) / tf.maximum(tf.reduce_sum(targets), 1.0)
            loss += self.squared_error_weight * weighted_squared_error(scores, targets, visible,
                                                                      self.confidence * strength)
            loss += self.l2 * (tf.reduce_sum(tf.square(self.inputs_table)) + tf.reduce_sum(tf.square(self.outputs_table)))
            # Replicas' gradients are summed: each contributes its share of the mean (one replica: the loss itself).
            share = loss / tf.distribute.get_strategy().num_replicas_in_sync
        self.optimizer.apply_gradients(zip(tape.gradient(share, self.trainable_variables), self.trainable_variables))
        self.loss_tracker.update_state(loss)
        return distribution.replica_shares({"loss": self.loss_tracker.result()})

    def test_step(self, batch: tuple[tf.Tensor, tf.Tensor]) -> dict[str, tf.Tensor]:
        histories, targets = batch
        scores = tf.where(histories[:, 1:] > 0, -1e9, self(histories)[:, 1:])
        kth = tf.math.top_k(scores, k=VALIDATION_K).values[:, -1:]
        self.top_k.update_state(tf.boolean_mask(tf.cast(scores >= kth, tf.float32), targets[:, 1:] > 0))
        return distribution.replica_shares({self.top_k.name: self.top_k.result()})

    def tables(self) -> RetrievalTables:
        return RetrievalTables(self.inputs_table.numpy(), self.outputs_table.numpy(), self.bias.numpy())


def weighted_squared_error(scores: tf.Tensor, targets: tf.Tensor, visible: tf.Tensor,
                           confidence: float | tf.Tensor) -> tf.Tensor:
    """Implicit ALS's loss on a batch: mean over users of Σ_title weight × (preference - score)².

    Args:
        scores: [B, titles] the model's scores.
        targets: [B, titles] 1 for a held-out title (preference 1, weight ``1 + confidence``), else 0.
        visible: [B, titles] bool, the titles the vector was pooled from: left out (weight 0).
        confidence: Extra weight of a target over a title the user has not rated (preference 0, weight 1); a
            [B, titles] tensor gives each target its own.

    Returns:
        A scalar.
    """
    weights = tf.where(visible, 0.0, 1.0 + confidence * targets)
    return tf.reduce_mean(tf.reduce_sum(weights * tf.square(targets - scores), axis=1))


def rating_rows(ratings: data.Columns, index: baselines.Index, which: np.ndarray | None = None) -> sparse.csr_matrix:
    """[users, titles + 1] sparse rows of ``ratings`` (column 0: unknown titles, always empty); only the rows
    ``which`` (a boolean mask) when given."""
    users, titles, values = index.cells(ratings, which)
    return sparse_rows.interaction_rows(users, titles + 1, values, (len(index.users), len(index.titles) + 1))


def _fit(histories: sparse.csr_matrix, config: HistoryConfig, seed: int, epochs: int, verbose: int,
         strategy: tf.distribute.Strategy | None, validation: sparse.csr_matrix | None = None,
         target_strength: float = 0.0) -> tuple[HistoryRetrieval, tf.keras.callbacks.History]:
    tf.keras.utils.set_random_seed(seed)
    with (strategy or tf.distribute.get_strategy()).scope():
        model = HistoryRetrieval(histories.shape[1] - 1, config, seed, target_strength)
        model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=config.learning_rate))
    batches = sparse_rows.dense_batches(config.batch_users, seed, histories=histories).map(
        lambda batch: batch["histories"])
    # More users than an epoch's: the shuffled passes run on, cut into epochs of epoch_users (see HistoryConfig).
    large = histories.shape[0] > config.epoch_users
    epoch_steps = -(-config.epoch_users // config.batch_users) if large else None
    callbacks, validation_data = [], None
    if validation is not None:
        users = np.arange(histories.shape[0])
        if large:  # epoch_users of the users with held-out ratings, drawn once
            users = np.flatnonzero(validation.getnnz(axis=1))
            users = np.sort(np.random.default_rng(seed).permutation(users)[:config.epoch_users])
        validation_data = sparse_rows.dense_batches(config.batch_users, histories=histories[users],
                                                    targets=validation[users]).map(
            lambda batch: (batch["histories"], batch["targets"]))
        callbacks.append(tf.keras.callbacks.EarlyStopping(monitor=VALIDATION_METRIC, mode="max",
                                                          patience=config.patience, restore_best_weights=True))
    verbose, bar = fit_progress(verbose, epochs, "history retrieval epochs")
    history = model.fit(batches.repeat() if large else batches, epochs=epochs, steps_per_epoch=epoch_steps,
                        verbose=verbose, callbacks=callbacks + bar, validation_data=validation_data)
    return model, history


def train_history_retrieval(train: data.Columns, test: data.Columns | None, user_ids: np.ndarray,
                            movie_titles: np.ndarray, config: HistoryConfig, seed: int, verbose: int = 1,
                            implicit: bool = False, strategy: tf.distribute.Strategy | None = None,
                            histories: sparse.csr_matrix | None = None) -> tuple[RetrievalTables, dict[str, float]]:
    """Chooses the epochs on a validation split, trains on all training ratings, evaluates on the test split.

    A log of more than ``config.epoch_users`` users is not retrained: the early-stopped fit serves, with its
    best epoch's weights (see the module docstring).

    Args:
        train, test: Rating columns ``user_id``, ``movie_title``, ``user_rating``; ``test`` ``None``: no test
            figures (its users are not among ``user_ids``: the caller scores them from their own rows).
        user_ids, movie_titles: Vocabularies.
        config: The model's size and training settings.
        seed: Seeds the validation split, the initial weights and the visible/target draws.
        verbose: Keras ``fit`` verbosity.
        implicit: The values are weights (implicit feedback), not ratings: picks the defaults that depend on it.
        strategy: Where to train; ``None`` is the default strategy.
        histories: Every user's training rows, ``rating_rows(train, Index(user_ids, movie_titles))``, where the
            caller has built them already (the pipeline's server retrieval uses them too); ``None``: built here.

    Returns:
        The tables and test figures: ``top_{k}`` (every title a candidate, the
        history being each user's training ratings) and ``unseen_top_{k}``
        (their training titles left out), ``epochs``, ``validation_unseen_top_10`` and ``train_loss`` (the
        serving fit's last epoch's mean training loss).
    """
    config = config.for_feedback(implicit)
    # Implicit feedback: each target weighs log1p(weight) over the training mean of log1p(weight).
    strength = float(np.log1p(train["user_rating"]).mean()) if implicit else 0.0
    index = baselines.Index(user_ids, movie_titles)
    held_out = data.validation_mask(len(train["user_id"]), config.validation_fraction, seed)
    model, chosen = _fit(rating_rows(train, index, ~held_out), config, seed, config.max_epochs, verbose, strategy,
                         validation=rating_rows(train, index, held_out), target_strength=strength)
    scores = chosen.history[VALIDATION_METRIC]
    epochs = int(np.argmax(scores)) + 1
    log.info("History retrieval: %d epochs chosen on the validation split (unseen top-%d %.4f)", epochs,
             VALIDATION_K, scores[epochs - 1])
    histories = rating_rows(train, index) if histories is None else histories
    train_loss = chosen.history["loss"][epochs - 1]
    if histories.shape[0] <= config.epoch_users:  # else the early-stopped fit serves (see the module docstring)
        model, final = _fit(histories, config, seed, epochs, verbose, strategy, target_strength=strength)
        train_loss = final.history["loss"][-1]
    tables = model.tables()
    figures = {} if test is None else retrieval_figures(tables, histories, test, index)
    return tables, {**figures, "epochs": epochs, "validation_unseen_top_10": float(scores[epochs - 1]),
                    "train_loss": float(train_loss)}


def retrieval_figures(tables: RetrievalTables, histories: sparse.csr_matrix, test: data.Columns,
                      index: baselines.Index) -> dict[str, float]:
    """Top-k accuracy of the tables' scores on the test ratings, both protocols (``interactions.metrics``).

    Args:
        tables: The trained tables.
        histories: [users, titles + 1] rating rows (``rating_rows`` over ``index``): who is scored, from what.
        test: The test ratings; those of users or titles outside ``index`` are left out.
        index: The users and titles of ``histories``.

    Users are scored ``SCORING_BLOCK`` at a time.
    """
    rows, columns = index.rows(test["user_id"]), index.columns(test["movie_title"])
    ranks: dict[str, list[np.ndarray]] = {"all": [], "unseen": []}
    for start, block in sparse_rows.row_blocks(histories, SCORING_BLOCK):
        mine = (rows >= start) & (rows < start + len(block))
        seen = [np.flatnonzero(row[1:]) for row in block]
        scores = tables.scores(block)
        ranks["all"].append(metrics.test_ranks(scores, rows[mine] - start, columns[mine]))
        ranks["unseen"].append(metrics.test_ranks(scores, rows[mine] - start, columns[mine], seen))
    every, unseen = (metrics.top_k_shares(np.concatenate(found)) for found in ranks.values())
    return {**every, **{f"unseen_{key}": value for key, value in unseen.items()}}
