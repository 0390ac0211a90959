"""Typed configuration of ``edgerank bench`` (one CLI flag per field)."""

from __future__ import annotations

from dataclasses import dataclass, field

from edge_runtime.backend import BACKEND_NAMES


@dataclass
class BenchConfig:
    """The benchmark matrix: every contender at every candidate count and thread count.

    Attributes:
        saved_model: The ranker SavedModel: a version folder or its base (the highest version is taken).
        models: Converted rankers (bundle folders), one contender per model and backend,
            named after the bundle folder. History bundles are timed call by call in a table of their own;
            at least one id model is needed, to compare with the SavedModel.
        data: ``.npz`` test split: requests are drawn from it and RMSE is computed on it.
        output_dir: Where results.json, results.md and the plots go.
        contenders: Names to run: savedmodel_call, savedmodel_signature, and tflite_<bundle folder>_<backend>
            for each model and backend (ai_edge_litert, and tflite_runtime when its Python is found);
            empty runs every available one.
        candidate_counts: Candidates per request.
        threads: Interpreter threads (TensorFlow's intra- and inter-op threads likewise).
        tflite_runtime_python: Python of an environment with tflite-runtime (it needs numpy<2).
        quick: A few hundred calls per cell and one thread count, for CI; every file is still written.
        warmup: Untimed calls per cell.
        seconds_per_cell: Timing budget per cell; the call count is derived from it.
        min_calls: Fewest timed calls per cell.
        max_calls: Most timed calls per cell.
        order_users: Users whose whole catalogue each converted model scores, to compare its order with the
            SavedModel's in its own runtime; 0 skips it.
        seed: Picks the requests and those users.
    """

    saved_model: str = "artifacts/ranking"
    models: tuple[str, ...] = ("artifacts/edge/float32", "artifacts/edge/float16", "artifacts/edge/dynamic",
                               "artifacts/edge/int8", "artifacts/edge/history-int8")
    data: str = "artifacts/data/test.npz"
    output_dir: str = "artifacts/bench"
    contenders: tuple[str, ...] = ()
    candidate_counts: tuple[int, ...] = (1, 10, 100, 1000)
    threads: tuple[int, ...] = (1, 2)
    tflite_runtime_python: str = ".venv-tflite/bin/python"
    quick: bool = False
    warmup: int = 50
    seconds_per_cell: float = 1.0
    min_calls: int = 500
    max_calls: int = 5000
    order_users: int = 200
    seed: int = 42


@dataclass
class EdgeBenchConfig:
    """What ``edgerank bench-edge`` measures, in an environment without TensorFlow.

    Attributes:
        model: The converted ranker (bundle folder or ``.tflite`` with its manifest).
        data: ``.npz`` test split to draw the user and candidates from.
        output: Where the JSON results go.
        candidates: Candidates scored per request.
        threads: Interpreter threads.
        backend: Interpreter backend; empty for the first installed.
        warmup: Untimed calls before measuring.
        repeats: Timed calls per measurement.
        cold_starts: Fresh processes timed from start to first score.
        history: Ratings in the history a history model personalizes (drawn from its catalogue).
        recommend_k: Titles a history model's recommend returns.
        seed: Picks the candidates.
    """

    model: str = "artifacts/edge/history-int8"
    data: str = "artifacts/data/test.npz"
    output: str = "artifacts/bench/edge.json"
    candidates: int = 100
    threads: int = 1
    backend: str = field(default="", metadata={"choices": BACKEND_NAMES})
    warmup: int = 500
    repeats: int = 5000
    cold_starts: int = 5
    history: int = 100
    recommend_k: int = 10
    seed: int = 42


@dataclass
class HistoryScaleConfig:
    """``edgerank bench history-scale``: the history model's size and latency at a generated catalogue size.

    Attributes:
        titles: Generated catalogue size (MovieLens 25M has 59,047 titles).
        hidden_units: AutoRec code size (the MovieLens model's).
        embedding_dim: Retrieval embedding size (the MovieLens model's).
        quantize: The variant to convert (none or int8).
        backend: Interpreter backend; empty for the first installed.
        repeats: Timed calls per measurement (spread over alternating rounds).
        output: Where the JSON results go.
        seed: Seeds the generated tables and requests.
    """

    titles: int = 59_047
    hidden_units: int = 500
    embedding_dim: int = 64
    quantize: str = field(default="int8", metadata={"choices": ("none", "int8")})
    backend: str = field(default="", metadata={"choices": BACKEND_NAMES})
    repeats: int = 2000
    output: str = "artifacts/bench/history_scale.json"
    seed: int = 42


@dataclass
class RetrievalBenchConfig:
    """``edgerank bench retrieval``: the ScaNN index against exact search as the catalogue grows.

    Attributes:
        corpus_sizes: Synthetic catalogue sizes (clustered candidate embeddings).
        movielens: A retrieval model (base folder or version) whose embeddings are measured too; empty: none.
        output_dir: Where results.json and recall_latency.png go.
        dimension: Embedding size of the synthetic candidates (the tutorial towers' 32).
        clusters: Synthetic clusters; 0 takes sqrt(N).
        spread: Standard deviation of a point around its cluster centre, per dimension
            (centres are standard normal).
        queries: Queries whose recall is measured (drawn like the candidates).
        latency_queries: Single queries timed per setting (cycling through the queries).
        brute_force_queries: Single queries timed for exact search.
        sweep: Multiples of the derived num_leaves_to_search measured for the recall/latency curve.
        leaves: ScaNN num_leaves; 0 derives it from N (trainer.scann_index).
        leaves_to_search: ScaNN num_leaves_to_search; 0 derives it.
        reorder: ScaNN reordering candidates; 0 derives it.
        dims_per_block: ScaNN AH dimensions per block.
        quick: Small corpora and few queries, for CI; every file is still written.
        seed: Seeds the synthetic data.
    """

    corpus_sizes: tuple[int, ...] = (1_682, 100_000, 1_000_000)
    movielens: str = "artifacts/retrieval"
    output_dir: str = "artifacts/bench/retrieval"
    dimension: int = 32
    clusters: int = 0
    spread: float = 0.5
    queries: int = 1_000
    latency_queries: int = 2_000
    brute_force_queries: int = 100
    sweep: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
    leaves: int = 0
    leaves_to_search: int = 0
    reorder: int = 0
    dims_per_block: int = 1
    quick: bool = False
    seed: int = 42


@dataclass
class HeavyUsersConfig:
    """The generated log (``edgerank bench heavy-users``).

    Attributes:
        output_dir: The folder ``ratings.csv`` and ``movies.csv`` are written to.
        users: Users in the log.
        titles: Titles in the catalogue.
        min_history: Fewest ratings a user has.
        max_history: Most ratings a user has (at most ``titles``).
        popularity_exponent: Zipf exponent of title popularity (1 / rank ** exponent).
        rank: Factors of the planted model.
        factor_scale: Standard deviation of a user-title factor product.
        noise: Standard deviation of the rating noise.
        seed: Seeds the whole log.
    """

    output_dir: str = "heavy-users"
    users: int = 300
    titles: int = 10_000
    min_history: int = 20
    max_history: int = 2_000
    popularity_exponent: float = 0.9
    rank: int = 8
    factor_scale: float = 0.8
    noise: float = 0.5
    seed: int = 0


@dataclass
class TrainScaleConfig:
    """``edgerank bench train-scale``: the best preset trained on a MovieLens-25M-shaped planted log.

    Attributes:
        scale: Sizes of the generated log, as shares of MovieLens 25M's shape (1: 162,541 users, 59,047 items,
            25,000,095 ratings); each is generated, trained, converted and evaluated.
        output_dir: Where each scale's log and artifacts, results.json and train_scale.png go.
        rank: Dimensions of the planted tastes.
        noise: Standard deviation of the planted rating noise (before rounding to half stars).
        exposure: How strongly a user's taste decides which items they rate (0: popularity alone).
        taste_weight: How much a rating moves per unit of planted taste.
        seed: Seeds the log, the split and the training.
    """

    scale: tuple[float, ...] = (0.01,)
    output_dir: str = "artifacts/bench/train-scale"
    rank: int = 16
    noise: float = 0.7
    exposure: float = 1.0
    taste_weight: float = 0.5
    seed: int = 42
