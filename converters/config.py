"""Typed configuration of ``edgerank convert`` and ``edgerank bundle`` (one CLI flag per field)."""

from __future__ import annotations

from dataclasses import dataclass, field

#: ``--quantize`` values (see ``converters.quantization``), and the bundle name each variant gets.
VARIANTS = {"none": "float32", "float16": "float16", "dynamic": "dynamic", "int8": "int8"}


@dataclass
class ConvertConfig:
    """Where the ranker comes from and goes, how it is quantized, and how strictly it is checked.

    Attributes:
        saved_model: The ranker SavedModel: a version folder, or the base folder
            written by ``edgerank train`` (its highest version is taken): artifacts/history (the history
            model: the user's own ratings in) or artifacts/ranking (by user id, the tutorials').
        quantize: none (float32), float16, dynamic (int8 weights, hybrid kernels) or int8 (int8 weights, float
            arithmetic; see int8_activations).
        output: The bundle folder to write; empty means artifacts/edge/<variant>
            (float32, float16, dynamic or int8), or artifacts/edge/history-<variant> for a history model.
        validation_data: ``.npz`` with ``user_id``, ``movie_title`` and ``user_rating``
            (the test split ``edgerank train`` writes to ``data/test.npz``).
        calibration_data: ``.npz`` of training pairs full-integer int8 calibrates on.
        history_data: ``.npz`` of training ratings: each user's history when validating a history model.
        calibration_requests: Calibration requests (distinct users) for full-integer int8.
        calibration_candidates: Titles per calibration request.
        int8_activations: Make int8 full-integer (activations int8 too, for integer-only accelerators);
            a ranker's order collapses then, and the order gate refuses it.
        tolerance: Largest score difference accepted between the SavedModel and
            the float32 model on any validation pair.
        history_tolerance: The same for a history model, whose fold-in is an iterative float32 solve:
            rounding differs between runtimes by up to about 5e-4 stars on MovieLens.
        rmse_tolerance: Quality gate: how much worse than the SavedModel's a
            variant's validation RMSE may be.
        min_top_10_overlap: Order gate: the least mean share of the SavedModel's top 10 titles per user
            that a variant's top 10 must keep.
        min_pair_agreement: Order gate: the least share of title pairs a variant must order as the
            SavedModel does (ties count half).
        order_users: Users (from the validation data, seeded) whose whole catalogue the order gate scores.
        validation_users: Users whose validation pairs both models score: a seeded sample of this many when the
            validation data has more (each is one personalize call per model for a history model).
        target_runtime: The oldest TFLite runtime the model must load in.
        per_channel_dense: Quantize dense kernels per channel (FULLY_CONNECTED v12, runtime >= 2.17).
        seed: Seeds the calibration sample and the users validated.
    """

    saved_model: str = "artifacts/history"
    quantize: str = field(default="none", metadata={"choices": tuple(VARIANTS)})
    output: str = ""
    validation_data: str = "artifacts/data/test.npz"
    calibration_data: str = "artifacts/data/train.npz"
    history_data: str = "artifacts/data/train.npz"
    calibration_requests: int = 200
    calibration_candidates: int = 100
    int8_activations: bool = False
    tolerance: float = 1e-4
    history_tolerance: float = 2e-3
    rmse_tolerance: float = 0.01
    min_top_10_overlap: float = 0.98
    min_pair_agreement: float = 0.995
    order_users: int = 200
    validation_users: int = 5_000
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

    model: str = "artifacts/edge/history-int8"
    out: str = "artifacts/bundle"
    android: bool = False
