"""Typed training configuration; defaults are the TFRS tutorials' values.

Every field is one CLI flag of ``edgerank train`` (see ``edge_runtime.cli``):
top-level fields keep their name (``--data``), nested ones take their
section's name as a prefix (``--ranking-epochs``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edge_runtime.errors import EdgeRankError


class ConfigError(EdgeRankError, ValueError):
    """A configuration value is not one the trainer knows."""


@dataclass
class SplitConfig:
    """The tutorials' split: one seeded shuffle, then the first 80% train and the rest test.

    Zero sizes are taken from the data: on MovieLens 100K that is exactly the
    tutorials' ``shuffle(100_000)``, 80,000 train and 20,000 test.
    """

    seed: int = 42
    # Ratings the shuffle buffer holds; 0: all of them.
    shuffle_buffer: int = 0
    # Training and test ratings; 0: `train_fraction` of the ratings, and the rest.
    train_size: int = 0
    test_size: int = 0
    train_fraction: float = 0.8


@dataclass
class RankingConfig:
    """The ranking tutorial: embeddings into Dense 256-64-1, MSE loss; or AutoRec.

    ``model`` picks the architecture: ``tutorial`` (the fields up to
    ``epochs``) or ``autorec``, item-based AutoRec (``trainer.autorec``, the
    ``autorec_*`` fields), which wins on the validation split.
    """

    model: str = "tutorial"
    embedding_dim: int = 32
    hidden_units: tuple[int, ...] = (256, 64)
    learning_rate: float = 0.1
    batch_size: int = 8192
    eval_batch_size: int = 4096
    epochs: int = 3
    # AutoRec (Sedhain et al. 2015): hidden units, λ of its L2 penalty, Adam's
    # learning rate; full-batch epochs stop when the validation RMSE has not
    # improved for `autorec_patience` epochs (at most `autorec_max_epochs`).
    autorec_hidden_units: int = 500
    autorec_l2: float = 200.0
    autorec_learning_rate: float = 0.001
    autorec_max_epochs: int = 1500
    autorec_patience: int = 50
    # Share of the training ratings held out to choose the epochs (early stopping).
    validation_fraction: float = 0.1


#: ``RankingConfig.model`` and ``RetrievalConfig.loss`` values.
RANKING_MODELS = ("tutorial", "autorec")
RETRIEVAL_LOSSES = ("in_batch", "full_softmax")
RETRIEVAL_OPTIMIZERS = ("adagrad", "adam")


@dataclass
class RetrievalConfig:
    """The retrieval tutorial: two 32-d towers, in-batch softmax, FactorizedTopK."""

    embedding_dim: int = 32
    learning_rate: float = 0.1
    batch_size: int = 8192
    eval_batch_size: int = 4096
    epochs: int = 3
    # Titles the exported retrieval model returns per query.
    index_k: int = 10
    # ScaNN settings; 0 derives each from the corpus size (trainer.scann_index).
    scann_leaves: int = 0
    scann_leaves_to_search: int = 0
    scann_reorder: int = 0
    scann_dims_per_block: int = 1
    # Correct in-batch softmax for how often each title is a negative (its
    # training frequency); off reproduces the tutorial.
    popularity_correction: bool = False
    # FactorizedTopK during `fit` costs most of the training time and does not
    # change the weights; the test split is always evaluated with it.
    metrics_during_training: bool = False
    # "in_batch": the tutorial's in-batch softmax; "full_softmax": every title
    # the user has not rated is a negative (trainer.retrieval), with `l2` on
    # the two embeddings' squared norms.
    loss: str = "in_batch"
    l2: float = 0.0
    # "adagrad" (the tutorial) or "adam".
    optimizer: str = "adagrad"
    # > 0: stop when the validation top-100 has not improved for this many
    # epochs (`epochs` is then the most), and retrain on all training ratings
    # for the best number; the validation split is `validation_fraction` of them.
    patience: int = 0
    validation_fraction: float = 0.1


@dataclass
class TrainConfig:
    """Everything ``edgerank train`` needs.

    Attributes:
        data: MovieLens 100K archive (``ml-100k.zip``) or its extracted folder;
            ``None`` reads ``$EDGERANK_DATA``, else downloads through
            tensorflow-datasets.
        output_dir: Where the artifacts go (layout in the README).
        seed: Seeds Python, NumPy and TensorFlow before each model is built.
        model_version: Version folder the models are exported to
            (``ranking/<version>/``); ``None`` takes one past the highest present.
        distribution: tf.distribute strategy: auto (from TF_CONFIG and the GPUs
            present), default, one_device, mirrored or multi_worker.
        mixed_precision: Compute in float16 where it is safe (variables and
            outputs stay float32); worth it on GPUs only.
    """

    data: str | None = None
    output_dir: str = "artifacts"
    seed: int = 42
    model_version: int | None = None
    distribution: str = "auto"
    mixed_precision: bool = False
    split: SplitConfig = field(default_factory=SplitConfig)
    ranking: RankingConfig = field(default_factory=RankingConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)


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
        data: MovieLens 100K archive or folder (``None``: ``$EDGERANK_DATA``).
        artifacts: The folder ``edgerank train`` and ``convert`` wrote (ranking/,
            retrieval/, edge/int8/).
        output_dir: Where results.json and results.md go.
        validation_fraction: Share of the training ratings held out for model selection.
        folds: Also evaluate on the archive's u1–u5 splits (retrains EdgeRank's models five times).
        seed: Seeds the validation split.
    """

    data: str | None = None
    artifacts: str = "artifacts"
    output_dir: str = "artifacts/eval"
    validation_fraction: float = 0.1
    folds: bool = True
    seed: int = 42
    split: SplitConfig = field(default_factory=SplitConfig)
