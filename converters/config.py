"""Typed configuration of ``edgerank convert`` and ``edgerank bundle`` (one CLI flag per field)."""

from __future__ import annotations

from dataclasses import dataclass

#: ``--quantize`` values (see ``converters.quantization``), and the bundle name each variant gets.
VARIANTS = {"none": "float32", "float16": "float16", "dynamic": "dynamic", "int8": "int8"}


@dataclass
class ConvertConfig:
    """Where the ranker comes from and goes, how it is quantized, and how strictly it is checked.

    Attributes:
        saved_model: The ranker SavedModel: a version folder, or the base folder
            written by ``edgerank train`` (its highest version is taken).
        quantize: none (float32), float16, dynamic (int8 weights) or int8 (full integer).
        output: The bundle folder to write; empty means artifacts/edge/<variant>
            (float32, float16, dynamic or int8).
        validation_data: ``.npz`` with ``user_id``, ``movie_title`` and ``user_rating``
            (the test split ``edgerank train`` writes to ``data/test.npz``).
        calibration_data: ``.npz`` of training pairs the int8 variant calibrates on.
        calibration_requests: Calibration requests (distinct users) for int8.
        calibration_candidates: Titles per calibration request.
        tolerance: Largest score difference accepted between the SavedModel and
            the float32 model on any validation pair.
        rmse_tolerance: Quality gate: how much worse than the SavedModel's a
            variant's validation RMSE may be.
        target_runtime: The oldest TFLite runtime the model must load in.
        per_channel_dense: Quantize dense kernels per channel (FULLY_CONNECTED v12, runtime >= 2.17).
        seed: Seeds the calibration sample.
    """

    saved_model: str = "artifacts/ranking"
    quantize: str = "none"
    output: str = ""
    validation_data: str = "artifacts/data/test.npz"
    calibration_data: str = "artifacts/data/train.npz"
    calibration_requests: int = 200
    calibration_candidates: int = 100
    tolerance: float = 1e-4
    rmse_tolerance: float = 0.01
    target_runtime: str = "2.14.0"
    per_channel_dense: bool = False
    seed: int = 42


@dataclass
class BundleConfig:
    """``edgerank bundle``: copy a verified bundle, optionally into an Android app's assets.

    Attributes:
        model: The bundle folder to copy (or the ``.tflite`` inside one).
        out: The new bundle folder; with --android, the app's assets folder
            (the bundle goes to its edgerank/ subfolder, other assets stay).
        android: Lay the bundle out for Android assets and print the Kotlin that loads it.
    """

    model: str = "artifacts/edge/float32"
    out: str = "artifacts/bundle"
    android: bool = False
