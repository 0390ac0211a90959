"""Typed training configuration; defaults are the TFRS tutorials' values.

Every field is one CLI flag of ``edgerank train`` (see ``edgerank.flags``):
top-level fields keep their name (``--seed``), nested ones take their
section's name as a prefix (``--ranking-epochs``), except the log's
(``interactions.schema.LogConfig``: ``--data``, ``--user-column``, …). Each class documents its
fields under ``Attributes:``; the first line of each is the flag's help.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar

from edge_runtime.errors import EdgeRankError
from interactions.holdout import METHODS
from interactions.schema import LogConfig


class ConfigError(EdgeRankError, ValueError):
    """A configuration value is not one the trainer knows."""


@dataclass
class SplitConfig:
    """How the log is divided into training and test interactions (``interactions.holdout``).

    The default is the tutorials' split: one seeded shuffle, then the first 80% train and the rest
    test. Zero sizes are taken from the data: on MovieLens 100K that is exactly the tutorials'
    ``shuffle(100_000)``, 80,000 train and 20,000 test.

    Attributes:
        method: random (a seeded shuffle of the interactions; on MovieLens the tutorials' own), time (each
            user's latest interactions by the time column are test) or users (new users: a share of the users
            held out whole, their earliest interactions the history the device folds in, the rest test).
        seed: Seeds the shuffle and the users held out.
        shuffle_buffer: Ratings the shuffle buffer holds; 0: all of them.
        train_size: Training ratings; 0: ``train_fraction`` of the ratings.
        test_size: Test ratings; 0: the ratings after the training ones.
        train_fraction: Share of the ratings that train, when ``train_size`` is 0 (time and users: of each
            user's).
        new_user_fraction: Share of the users the users method holds out.
    """

    method: str = field(default="random", metadata={"choices": METHODS})
    seed: int = 42
    shuffle_buffer: int = 0
    train_size: int = 0
    test_size: int = 0
    train_fraction: float = 0.8
    new_user_fraction: float = 0.1


@dataclass
class RankingConfig:
    """The ranking tutorial: embeddings into Dense 256-64-1, MSE loss; or AutoRec.

    ``model`` picks the architecture: ``tutorial`` (the fields up to
    ``epochs``) or ``autorec``, item-based AutoRec (``trainer.autorec``, the
    ``autorec_*`` fields), which wins on the validation split.

    Attributes:
        model: The architecture: tutorial (embeddings and dense layers) or autorec.
        embedding_dim: Size of the user and title embeddings (tutorial).
        hidden_units: Units of the dense layers before the rating (tutorial).
        learning_rate: Adagrad's learning rate (tutorial).
        batch_size: Training ratings per batch (tutorial).
        eval_batch_size: Test ratings per batch when evaluating (tutorial).
        epochs: Passes over the training ratings (tutorial).
        autorec_hidden_units: AutoRec's hidden code size (Sedhain et al. 2015).
        autorec_l2: λ of AutoRec's L2 penalty on its two weight matrices.
        autorec_learning_rate: Adam's learning rate for AutoRec trained on one full batch.
        autorec_batched_learning_rate: Adam's learning rate for AutoRec trained on n batches of titles (a log
            past ``autorec_batch_ratings``), shared by an epoch's steps: each steps at this / n. Adam moves
            each weight by about its step size every step, so an epoch moves it about as far however many
            batches it takes. On the 2.5M-rating planted log in 10 batches, 0.05 wavered about a validation
            RMSE of 0.84, 0.02 reached 0.755; in 73, 0.02 reached 0.739 and 0.146 stalled at 0.86.
        autorec_max_epochs: Most AutoRec epochs (full batches: a log cut into n batches trains at most this / n).
        autorec_patience: Stop AutoRec when the validation RMSE has not improved for this many epochs (full
            batches, likewise).
        autorec_batch_ratings: AutoRec trains on one full batch up to this many ratings (as AutoRec does); past
            it, on batches of titles holding at most about this many (the memory a step takes grows with it).
        autorec_epoch_batches: Past ``autorec_batch_ratings`` ratings, an epoch is cut into at least this many
            batches of titles: more, smaller steps learn more an epoch. On the 2.5M-rating planted log, 73
            batches reached a validation RMSE of 0.739 where 10 stopped at 0.755.
        validation_fraction: Share of the training ratings held out to choose the epochs (early stopping).
    """

    model: str = field(default="tutorial", metadata={"choices": ("tutorial", "autorec")})
    embedding_dim: int = 32
    hidden_units: tuple[int, ...] = (256, 64)
    learning_rate: float = 0.1
    batch_size: int = 8192
    eval_batch_size: int = 4096
    epochs: int = 3
    autorec_hidden_units: int = 500
    autorec_l2: float = 200.0
    autorec_learning_rate: float = 0.005
    autorec_batched_learning_rate: float = 0.02
    autorec_max_epochs: int = 1500
    autorec_patience: int = 50
    autorec_batch_ratings: int = 250_000
    autorec_epoch_batches: int = 64
    validation_fraction: float = 0.1


#: ``RankingConfig.model``, ``RetrievalConfig.model`` and ``RetrievalConfig.loss`` values.
RANKING_MODELS = ("tutorial", "autorec")
RETRIEVAL_MODELS = ("two_tower", "history")
RETRIEVAL_LOSSES = ("in_batch", "full_softmax")
RETRIEVAL_OPTIMIZERS = ("adagrad", "adam")


@dataclass
class RetrievalConfig:
    """The retrieval tutorial: two 32-d towers, in-batch softmax, FactorizedTopK.

    ``model`` picks what the server's retrieval model (``retrieval/<version>/``)
    serves: ``two_tower``, the tutorial's towers over user ids (every field
    below but the index's), or ``history``, the history model's retrieval
    (``trainer.history_retrieval``, configured by ``HistoryConfig``): each
    user's query is their training titles pooled, which wins on the
    validation split. Both sit behind the same ScaNN index.

    Attributes:
        model: The server's retrieval: two_tower (towers over user ids) or history (the user's titles pooled).
        embedding_dim: Size of the user and title tower embeddings.
        learning_rate: The optimizer's learning rate.
        batch_size: Training ratings per batch.
        eval_batch_size: Test ratings per batch when evaluating.
        epochs: Passes over the training ratings (the most, with ``patience``).
        index_k: Titles the exported retrieval model returns per query.
        scann_leaves: ScaNN partitions; 0 derives it from the catalogue size (trainer.scann_index).
        scann_leaves_to_search: ScaNN partitions searched per query; 0 derives it.
        scann_reorder: Candidates ScaNN rescores exactly; 0 derives it.
        scann_dims_per_block: Dimensions per ScaNN asymmetric-hashing block.
        popularity_correction: Correct the in-batch softmax for how often each title is a negative
            (its training frequency); off reproduces the tutorial.
        metrics_during_training: Compute FactorizedTopK during fit (slow, and the weights do not
            change); the test split is always evaluated with it.
        loss: in_batch (the tutorial's in-batch softmax) or full_softmax (every title the user
            has not rated is a negative, with ``l2`` on the embeddings' squared norms).
        l2: Weight of the L2 penalty on both embeddings (full_softmax).
        optimizer: adagrad (the tutorial) or adam.
        patience: Above 0: stop when the validation top-100 has not improved for this many epochs,
            then retrain on all training ratings for the best number.
        validation_fraction: Share of the training ratings held out for early stopping.
    """

    model: str = field(default="two_tower", metadata={"choices": ("two_tower", "history")})
    embedding_dim: int = 32
    learning_rate: float = 0.1
    batch_size: int = 8192
    eval_batch_size: int = 4096
    epochs: int = 3
    index_k: int = 10
    scann_leaves: int = 0
    scann_leaves_to_search: int = 0
    scann_reorder: int = 0
    scann_dims_per_block: int = 1
    popularity_correction: bool = False
    metrics_during_training: bool = False
    loss: str = field(default="in_batch", metadata={"choices": ("in_batch", "full_softmax")})
    l2: float = 0.0
    optimizer: str = field(default="adagrad", metadata={"choices": ("adagrad", "adam")})
    patience: int = 0
    validation_fraction: float = 0.1


@dataclass
class HistoryConfig:
    """The history-based device model (``trainer.history``): the user's own ratings in, no user id.

    Its ranking half folds a history into AutoRec's decoder (so it needs
    ``--ranking-model autorec``); its retrieval half is trained here
    (``trainer.history_retrieval``).

    Attributes:
        enabled: Train and export the history model (history/<version>/) when the ranker is AutoRec.
        ridge: λ of the fold-in: how strongly a user's decoder row is pulled towards the mean user's.
        ridge_per_rating: Candidates for how much λ grows per history rating (λ = ridge + this × ratings),
            one chosen on the validation split; long histories need more pull than training's λ alone.
        bias_ridge: λ on the decoder bias (small: a user's mean rating is learned from few ratings).
        solver_iterations: Conjugate-gradient steps of the fold-in solve inside the model.
        recommend_k: Titles the model's recommend signature returns (at most the catalogue).
        embedding_dim: Size of the retrieval title embeddings.
        keep: Share of a user's training titles the retrieval model sees per epoch; the rest are targets.
        visible_negatives: Weight of the visible history titles among each target's negatives (0: masked).
        squared_error_weight: Weight of implicit ALS's squared error beside the softmax (0: softmax only).
        confidence: Implicit ALS's alpha in that squared error: a target weighs 1 + confidence, other titles 1.
        l2: Weight of the L2 penalty on the retrieval embeddings; none: 0.001 for ratings and 0.0001 for weights
            (implicit feedback), each chosen on a validation split (MovieLens 100K, Last.fm 2K).
        learning_rate: Adam's learning rate for the retrieval model.
        batch_users: Users per retrieval training batch.
        epoch_users: Users per retrieval epoch: a log with more users trains in epochs of this many users'
            batches (the epoch limits count them) and validates on this many users with held-out ratings.
        max_epochs: Most retrieval epochs.
        patience: Stop when the validation unseen top-10 has not improved for this many epochs.
        validation_fraction: Share of the training ratings held out to choose the epochs.
        new_user_fraction: Share of the users ``edgerank eval`` holds out entirely to test new users.
        test_users: Test users the history model's warm-user RMSE is computed on; past this many, a seeded
            sample of them (each personalizes once: MovieLens 25M's 162,541 took over 20 minutes).
    """

    enabled: bool = True
    ridge: float = 100.0
    ridge_per_rating: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
    bias_ridge: float = 5.0
    solver_iterations: int = 16
    recommend_k: int = 300
    embedding_dim: int = 64
    keep: float = 0.5
    visible_negatives: float = 0.3
    squared_error_weight: float = 0.03
    confidence: float = 5.0
    l2: float | None = None
    learning_rate: float = 0.005
    batch_users: int = 128
    epoch_users: int = 16_384
    max_epochs: int = 100
    patience: int = 20
    validation_fraction: float = 0.1
    new_user_fraction: float = 0.1
    test_users: int = 20_000

    def for_feedback(self, implicit: bool) -> HistoryConfig:
        """This configuration with the defaults that depend on the feedback filled in (``l2``)."""
        return dataclasses.replace(self, l2=self.l2 if self.l2 is not None else 1e-4 if implicit else 1e-3)


#: ``TrainConfig.preset`` values: the fields each changes from the dataclass defaults (the tutorials').
#: ``best`` is what beat every classic baseline on the validation split: AutoRec (with the history
#: model built on it) and the history retrieval on the server too; ``--retrieval-model two_tower``
#: then trains the full-softmax towers, the best of those.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "tutorial": {},
    "best": {
        "ranking": {"model": "autorec"},
        "retrieval": {"model": "history", "loss": "full_softmax", "optimizer": "adam", "learning_rate": 0.01,
                      "batch_size": 1024, "l2": 0.1, "embedding_dim": 64, "epochs": 30, "patience": 4},
    },
}
#: The preset ``edgerank train`` and ``edgerank demo`` start from.
DEFAULT_PRESET = "best"
#: ``TrainConfig.distribution`` values (``trainer.distribution``).
DISTRIBUTIONS = ("auto", "default", "one_device", "mirrored", "multi_worker")


@dataclass
class TrainConfig:
    """Everything ``edgerank train`` needs.

    The dataclass defaults are the TFRS tutorials' values (``preset`` tutorial);
    the command line starts from ``DEFAULT_PRESET`` (``TrainConfig.from_preset``).

    Attributes:
        preset: The values every other flag starts from: best (AutoRec, history model, history
            retrieval on the server) or tutorial (the TFRS tutorials' models and values); flags given
            override them.
        log: The interaction log and which column is what (``interactions.schema.LogConfig``).
        output_dir: Where the artifacts go (layout in the README).
        seed: Seeds Python, NumPy and TensorFlow before each model is built.
        model_version: Version folder the models are exported to
            (``ranking/<version>/``); ``None`` takes one past the highest present.
        distribution: tf.distribute strategy: auto (from TF_CONFIG and the GPUs
            present), default, one_device, mirrored or multi_worker.
        worker_timeout: Several machines: seconds a worker waits for the others, to join or in one exchange
            of gradients, before the run fails (a worker that dies is noticed within about a minute anyway).
        mixed_precision: Compute in float16 where it is safe (variables and
            outputs stay float32); worth it on GPUs only.
    """

    preset: str = field(default="tutorial", metadata={"choices": tuple(PRESETS)})
    log: LogConfig = field(default_factory=LogConfig, metadata={"flatten": True})
    output_dir: str = "artifacts"
    seed: int = 42
    model_version: int | None = None
    distribution: str = field(default="auto", metadata={"choices": DISTRIBUTIONS})
    worker_timeout: float = 600.0
    mixed_precision: bool = False
    split: SplitConfig = field(default_factory=SplitConfig)
    ranking: RankingConfig = field(default_factory=RankingConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    history: HistoryConfig = field(default_factory=HistoryConfig)

    @classmethod
    def from_preset(cls, name: str) -> TrainConfig:
        """The configuration ``preset`` ``name`` starts from (see ``PRESETS``).

        Raises:
            ConfigError: ``name`` is not a preset.
        """
        if name not in PRESETS:
            raise ConfigError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
        base = cls()
        sections = {section: dataclasses.replace(getattr(base, section), **values)
                    for section, values in PRESETS[name].items()}
        return dataclasses.replace(base, preset=name, **sections)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """The configuration ``dataclasses.asdict`` turned into ``values`` (``metrics.json``'s ``config``).

        Lists become tuples again; fields the dict lacks keep their defaults and
        keys this version does not know are ignored, so older files still load.
        """
        return _from_dict(cls, values)


Config = TypeVar("Config")


def _from_dict(cls: type[Config], values: dict[str, Any]) -> Config:
    hints = typing.get_type_hints(cls)
    fields = {}
    for item in dataclasses.fields(cls):
        if item.name not in values:
            continue
        value, hint = values[item.name], hints[item.name]
        if dataclasses.is_dataclass(hint):
            value = _from_dict(hint, value)
        elif isinstance(value, list):
            value = tuple(value)
        fields[item.name] = value
    return cls(**fields)


@dataclass
class RetrieveConfig:
    """``edgerank retrieve``: the server half of two-stage recommend.

    Attributes:
        retrieval: The retrieval model (base folder or version) ``edgerank train`` wrote.
        user: The user id.
        k: Candidates to retrieve.
        exclude_rated: Leave out the titles the user rated in training.
        output: The hand-off file to write (edge_runtime.handoff); empty prints it.
    """

    retrieval: str = "artifacts/retrieval"
    user: str = ""
    k: int = 300
    exclude_rated: bool = True
    output: str = ""


@dataclass
class EvalConfig:
    """``edgerank eval``.

    Attributes:
        data: MovieLens 100K archive or folder (none: $EDGERANK_DATA); other logs are evaluated on the split
            files edgerank train wrote into the artifacts, so they need none.
        skip_bad_rows: Drop ratings that name unknown users or movies, as ``edgerank train`` did.
        artifacts: The folder ``edgerank train`` and ``convert`` wrote (ranking/,
            retrieval/, edge/int8/).
        output_dir: Where results.json and results.md go.
        validation_fraction: Share of the training ratings held out for model selection.
        baselines: Also fit and score the classic baselines (their grids are searched on the validation
            split first); without them only EdgeRank's models are scored.
        folds: Also evaluate on the archive's u1–u5 splits (retrains EdgeRank's models five times).
        order_users: Users whose whole catalogue the int8 model and the SavedModel both score, to compare orders.
        max_users: A log other than MovieLens: test users its figures are computed on; past this many, a
            seeded sample of them, every model scored on the same users.
        new_users: Evaluate the history model on users held out of training (retrains AutoRec once).
        seed: Seeds the validation split and the users compared.
    """

    data: str | None = None
    skip_bad_rows: bool = False
    artifacts: str = "artifacts"
    output_dir: str = "artifacts/eval"
    validation_fraction: float = 0.1
    baselines: bool = True
    folds: bool = True
    order_users: int = 200
    max_users: int = 20_000
    new_users: bool = True
    seed: int = 42
    split: SplitConfig = field(default_factory=SplitConfig)
