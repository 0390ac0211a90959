"""Typed configuration of ``edgerank convert`` (one CLI flag per field)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ConvertConfig:
    """Where the ranker comes from and goes, and how strictly it is checked.

    Attributes:
        saved_model: The ranker SavedModel folder written by ``edgerank train``.
        output: The ``.tflite`` file to write.
        validation_data: ``.npz`` with ``user_id`` and ``movie_title`` columns
            (the test split ``edgerank train`` writes to ``data/test.npz``).
        tolerance: Largest absolute score difference accepted between the
            SavedModel and the converted model on any validation pair.
    """

    saved_model: str = "artifacts/ranking"
    output: str = "artifacts/edge/ranker.tflite"
    validation_data: str = "artifacts/data/test.npz"
    tolerance: float = 1e-4
