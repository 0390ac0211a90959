"""The retrieval tutorial's two-tower model and its training.

A query tower (user id -> 32-d embedding) and a candidate tower (movie title
-> 32-d embedding) are trained with in-batch softmax (the tutorial) or a
softmax over the whole catalogue, and evaluated with ``FactorizedTopK`` on the
test split. Serving (the towers behind a ScaNN index) is
``trainer.retrieval_serving``.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

from trainer import data
from trainer.config import RETRIEVAL_LOSSES, RETRIEVAL_OPTIMIZERS, ConfigError, RetrievalConfig
from trainer.progress import fit_progress
from trainer.towers import float32_policy, input_pipeline, string_embedding

#: ``FactorizedTopK`` cut-offs reported for the test split.
TOP_KS = (1, 5, 10, 50, 100)


class CatalogueTopK(tfrs.layers.factorized_top_k.TopK):
    """Exact top K of the whole catalogue, embedded by the candidate tower as it is at each call.

    What ``FactorizedTopK`` gets from a dataset of candidate embeddings (a
    ``Streaming`` layer), in one matrix product and one ``top_k`` per batch of
    queries instead of a merge per batch of candidates: about four times
    faster on MovieLens, so validating every epoch costs little. Like
    ``Streaming`` it needs no index, so it follows the tower while it trains.

    Args:
        tower: The candidate tower (titles -> embeddings).
        titles: Every candidate title.
        k: Candidates returned per query.
    """

    def __init__(self, tower: tf.keras.Model, titles: np.ndarray, k: int) -> None:
        super().__init__(k=k)
        self.tower, self.titles = tower, tf.constant(titles)

    def index(self, candidates: tf.Tensor, identifiers: tf.Tensor | None = None) -> "CatalogueTopK":
        raise NotImplementedError("CatalogueTopK embeds the catalogue at each call: there is nothing to index")

    def call(self, queries: tf.Tensor, k: int | None = None) -> tuple[tf.Tensor, tf.Tensor]:
        """[B, d] query embeddings -> ([B, k] best scores, [B, k] their positions in ``titles``).

        Fewer than ``k`` when the catalogue is smaller, as ``Streaming`` returns.
        """
        candidates = tf.cast(self.tower(self.titles), tf.float32)
        return tf.math.top_k(tf.matmul(queries, candidates, transpose_b=True),
                             k=tf.minimum(k or self._k, tf.shape(candidates)[0]))

    def is_exact(self) -> bool:
        return True


class RetrievalModel(tfrs.Model):
    """Two towers trained with the TFRS retrieval task.

    Args:
        user_ids: User vocabulary (query tower).
        movie_titles: Unique catalogue titles (candidate tower, and the
            candidates ``FactorizedTopK`` ranks).
        config: Sizes, the loss, and whether metrics run during ``fit`` (see ``make_task``).

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
        self.full_softmax, self.l2 = config.loss == "full_softmax", config.l2
        self.rated: tf.RaggedTensor | None = None
        self.task = self.make_task(with_metrics=config.metrics_during_training)
        # FactorizedTopK for evaluation (validation and test) when training runs without it.
        self.evaluation_task: tfrs.tasks.Retrieval | None = None

    def set_rated(self, user_ids: np.ndarray, titles: np.ndarray) -> None:
        """The training ratings: each user's rated title indices, a ragged [users + 1, None] tensor.

        Row and column 0 are the unknown user and title. The full softmax
        leaves a user's other rated titles out of each example's negatives:
        they are not what the user will watch next. Ragged, so memory grows
        with the ratings, not with users × titles.
        """
        users = self.user_model.layers[0](user_ids).numpy()
        order = np.argsort(users, kind="stable")
        self.rated = tf.RaggedTensor.from_value_rowids(
            self.movie_model.layers[0](titles).numpy()[order], users[order],
            nrows=self.user_model.layers[0].vocabulary_size())

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
            candidates = CatalogueTopK(self.movie_model, self._movie_titles, max(TOP_KS))
            return tfrs.tasks.Retrieval(metrics=tfrs.metrics.FactorizedTopK(candidates=candidates, ks=TOP_KS))

    def full_softmax_loss(self, features: dict[str, tf.Tensor], users: tf.Tensor, movies: tf.Tensor) -> tf.Tensor:
        """Cross-entropy of each rated title against every title the user has not rated, plus L2.

        The catalogue is small enough to score whole: logits are the user's
        dot products with every title embedding; the user's other rated titles
        and the out-of-vocabulary row are masked out. ``l2`` weighs the squared
        norms of the example's two embeddings.
        """
        user_index = self.user_model.layers[0](features["user_id"])
        title_index = self.movie_model.layers[0](features["movie_title"])
        catalogue = tf.cast(self.movie_model.layers[1].embeddings, tf.float32)
        positive = tf.one_hot(title_index, tf.shape(catalogue)[0])
        rated = tf.gather(self.rated, user_index)  # [B, None] title indices
        cells = tf.stack([rated.value_rowids(), rated.values], axis=1)
        cells = tf.concat([cells, tf.stack(  # the unknown-title column is no candidate either
            [tf.range(tf.size(user_index, out_type=tf.int64)), tf.zeros_like(user_index)], axis=1)], axis=0)
        excluded = tf.minimum(tf.scatter_nd(cells, tf.ones(tf.shape(cells)[:1]), tf.shape(positive, tf.int64)), 1.0)
        excluded = tf.maximum(excluded - positive, 0.0)
        logits = tf.matmul(users, catalogue, transpose_b=True) - 1e9 * excluded
        losses = tf.nn.softmax_cross_entropy_with_logits(positive, logits)
        losses += self.l2 * (tf.reduce_sum(tf.square(users), 1) + tf.reduce_sum(tf.square(movies), 1))
        return tf.nn.compute_average_loss(losses)

    def compute_loss(self, features: dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        # float32 scores even when the towers compute in float16 (mixed precision).
        users = tf.cast(self.user_model(features["user_id"]), tf.float32)
        movies = tf.cast(self.movie_model(features["movie_title"]), tf.float32)
        if not training and self.evaluation_task is not None:
            return self.evaluation_task(users, movies)
        if self.full_softmax:
            return self.full_softmax_loss(features, users, movies)
        if self.popularity_correction and training:
            # Candidate ids make FactorizedTopK id-based; it is computed at evaluation only.
            return self.task(users, movies, compute_metrics=False,
                             candidate_sampling_probability=self.sampling_probability.lookup(features["movie_title"]),
                             candidate_ids=self.movie_model.layers[0](features["movie_title"]))  # int ids
        return self.task(users, movies)


#: What early stopping watches: top-100 of every title, the tutorial's measure.
VALIDATION_METRIC = "factorized_top_k/top_100_categorical_accuracy"


def _batches(columns: data.Columns, batch_size: int, shuffle_seed: int | None = None) -> tf.data.Dataset:
    pairs = tf.data.Dataset.from_tensor_slices({name: columns[name] for name in ("user_id", "movie_title")})
    return input_pipeline(pairs, batch_size, shuffle_seed)


def _fit(train: data.Columns, validation: data.Columns | None, user_ids: np.ndarray, movie_titles: np.ndarray,
         config: RetrievalConfig, seed: int, epochs: int, verbose: int,
         strategy: tf.distribute.Strategy | None) -> tuple[RetrievalModel, tf.keras.callbacks.History]:
    """Builds and fits the towers; with ``validation``, stops early on its top-100 (best weights restored)."""
    for name, value, known in (("loss", config.loss, RETRIEVAL_LOSSES),
                               ("optimizer", config.optimizer, RETRIEVAL_OPTIMIZERS)):
        if value not in known:
            raise ConfigError(f"unknown retrieval {name} {value!r}: choose one of {', '.join(known)}")
    tf.keras.utils.set_random_seed(seed)
    with (strategy or tf.distribute.get_strategy()).scope():
        model = RetrievalModel(user_ids, movie_titles, config)
        if config.popularity_correction:
            model.set_sampling_probability(train["movie_title"])
        if model.full_softmax:
            model.set_rated(train["user_id"], train["movie_title"])
        optimizer = {"adagrad": tf.keras.optimizers.Adagrad, "adam": tf.keras.optimizers.Adam}[config.optimizer]
        model.compile(optimizer=optimizer(learning_rate=config.learning_rate))
        if not config.metrics_during_training:
            model.evaluation_task = model.make_task(with_metrics=True)

    callbacks, validation_data = [], None
    if validation is not None:
        validation_data = _batches(validation, config.eval_batch_size)
        callbacks.append(tf.keras.callbacks.EarlyStopping(
            monitor=f"val_{VALIDATION_METRIC}", mode="max", patience=config.patience, restore_best_weights=True))
    verbose, bar = fit_progress(verbose, epochs, "retrieval epochs")
    history = model.fit(_batches(train, config.batch_size, seed), epochs=epochs, verbose=verbose,
                        validation_data=validation_data, callbacks=callbacks + bar)
    return model, history


def train_retrieval(
    train: data.Columns,
    test: data.Columns,
    user_ids: np.ndarray,
    movie_titles: np.ndarray,
    config: RetrievalConfig,
    seed: int,
    verbose: int = 1,
    strategy: tf.distribute.Strategy | None = None,
) -> tuple[RetrievalModel, dict[str, float]]:
    """Trains the two towers and evaluates top-k accuracy on the test split.

    With ``config.patience`` > 0, the epochs (at most ``config.epochs``) are
    chosen by early stopping on a validation split carved out of ``train``
    (``config.validation_fraction``), then the towers are retrained on all of
    ``train`` for that many epochs.

    Args:
        train, test: ``user_id`` and ``movie_title`` columns.
        user_ids, movie_titles: Vocabularies (unique titles).
        config: Hyperparameters (batch sizes are global, across replicas).
        seed: Seeds weight initialisation, the training shuffle and the validation split.
        verbose: Keras ``fit`` verbosity (progress bar).
        strategy: Where to train (``trainer.distribution``); ``None`` is the default strategy.

    Returns:
        The model and ``{"top_1": …, "top_5": …, "top_10": …, "top_50": …,
        "top_100": …}``: the share of test ratings whose title is among the
        user's top k of all titles; with early stopping also ``epochs`` and
        ``validation_top_100``.
    """
    epochs, chosen = config.epochs, {}
    if config.patience > 0:
        fit_part, validation = data.validation_split(train, config.validation_fraction, seed)
        _, history = _fit(fit_part, validation, user_ids, movie_titles, config, seed, config.epochs, verbose,
                          strategy)
        scores = history.history[f"val_{VALIDATION_METRIC}"]
        epochs = int(np.argmax(scores)) + 1
        chosen = {"epochs": epochs, "validation_top_100": float(scores[epochs - 1])}
    model, _ = _fit(train, None, user_ids, movie_titles, config, seed, epochs, verbose, strategy)
    result = model.evaluate(_batches(test, config.eval_batch_size), return_dict=True, verbose=0)
    return model, {
        **{f"top_{k}": float(result[f"factorized_top_k/top_{k}_categorical_accuracy"]) for k in TOP_KS}, **chosen,
    }


def embed(tower: tf.keras.Model, strings: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """A tower's float32 embeddings of ``strings`` ([N] -> [N, d])."""
    return np.concatenate([tf.cast(tower(tf.constant(strings[i : i + batch_size])), tf.float32).numpy()
                           for i in range(0, len(strings), batch_size)])
