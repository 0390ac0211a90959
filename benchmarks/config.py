"""Typed configuration of ``edgerank bench`` (one CLI flag per field)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class BenchConfig:
    """What to measure and how.

    Attributes:
        saved_model: The ranker SavedModel folder.
        model: The converted ``.tflite`` ranker.
        data: ``.npz`` test split (``user_id``, ``movie_title``) to draw the
            user and candidates from.
        output: Where the JSON results go.
        candidates: Candidates scored per request.
        threads: TensorFlow intra-/inter-op threads and interpreter threads.
        warmup: Untimed calls before measuring.
        repeats: Timed calls per contender.
        seed: Picks the candidates.
    """

    saved_model: str = "artifacts/ranking"
    model: str = "artifacts/edge/ranker.tflite"
    data: str = "artifacts/data/test.npz"
    output: str = "artifacts/bench/latency.json"
    candidates: int = 100
    threads: int = 1
    warmup: int = 50
    repeats: int = 1000
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
        seed: Picks the candidates.
    """

    model: str = "artifacts/edge"
    data: str = "artifacts/data/test.npz"
    output: str = "artifacts/bench/edge.json"
    candidates: int = 100
    threads: int = 1
    backend: str = ""
    warmup: int = 500
    repeats: int = 5000
    cold_starts: int = 5
    seed: int = 42
