"""Convert the ranker's ``score`` signature to a validated TFLite bundle.

Three named steps, in the manner of Optimum's ``export`` and
``validate_model_outputs``, which ``convert_ranker`` runs in order:
``convert`` (SavedModel -> TFLite bytes, runtime compatibility checked),
``validate`` (the converted model against the SavedModel on the same pairs,
then the quality gate) and ``describe`` (the manifest fields).

The converted model keeps the string lookups, so it takes raw ``user_id`` and
``movie_title`` strings; only built-in TFLite ops are allowed (no Flex), so
any TFLite interpreter runs it. It comes in four variants
(``converters.quantization``). Before the bundle is renamed into place:

1. Compatibility: every (op, version) must exist in the target runtime
   (``converters.compatibility``), else conversion stops before validating.
2. Validation: every test pair is scored by the SavedModel's
   ``serving_default`` signature (the model's meaning) and by the converted
   model through ``edge_runtime`` (what the device runs, one user against their
   titles). The float32 model must match within ``tolerance`` on every pair;
   every variant must keep its test RMSE within ``rmse_tolerance`` of the
   SavedModel's (the quality gate).
3. Delegate: the CPU delegate the model runs with is recorded (XNNPACK if it
   accepts the model, else the built-in kernels).

A refused variant leaves the previous bundle untouched. The bundle's layout is
in ``converters.bundle``; its manifest in ``edge_runtime.manifest``;
the names it keeps in ``edge_runtime.contract``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from converters import bundle, compatibility, quantization
from converters.config import ConvertConfig
from edge_runtime import EdgeRanker, atomic
from edge_runtime.contract import SIGNATURE
from edge_runtime.errors import EdgeRankError
from edge_runtime.manifest import sha256_hex
from trainer import metrics, scoring, serving
from trainer.formats import Columns
from trainer.splits import SplitFileError, read_split

log = logging.getLogger(__name__)


class ConversionError(EdgeRankError):
    """The input is unusable or the converted model disagrees with the SavedModel."""


#: How the model treats ids and titles it was not trained on (goes into the manifest).
OUT_OF_VOCABULARY = (
    "Unknown user ids and titles share one learned out-of-vocabulary embedding each and are still "
    "scored; the outputs user_known and title_known are false for them."
)


@dataclass(frozen=True)
class Validation:
    """How closely a converted model matches the SavedModel on the validation pairs.

    Attributes:
        pairs: (user, title) pairs scored by both models.
        max_abs_diff: Largest absolute score difference over those pairs.
        test_rmse: The converted model's RMSE on them.
        saved_model_test_rmse: The SavedModel's RMSE on them.
        backend: The edge interpreter that scored the converted model.
        cpu_delegate: ``xnnpack`` or ``none`` (built-in kernels): what runs it.
    """

    pairs: int
    max_abs_diff: float
    test_rmse: float
    saved_model_test_rmse: float
    backend: str
    cpu_delegate: str


@dataclass(frozen=True)
class ConversionReport:
    """What conversion wrote and how closely it matches the SavedModel.

    Attributes:
        bundle: The bundle folder written.
        quantization: The variant (``none``, ``float16``, ``dynamic``, ``int8``).
        size_bytes: The model's size.
        sha256: The model's SHA-256.
        ops: The ops and versions the model uses (``"FULLY_CONNECTED v4"``).
        min_runtime_version: The oldest TFLite runtime that runs it.
        cpu_delegate: ``xnnpack`` or ``none`` (built-in kernels).
        validated_pairs: (user, title) test pairs scored by both models.
        max_abs_diff: Largest absolute score difference over those pairs.
        test_rmse: The converted model's RMSE on them.
        saved_model_test_rmse: The SavedModel's RMSE on them.
        backend: The edge interpreter that scored the converted model.
    """

    bundle: str
    quantization: str
    size_bytes: int
    sha256: str
    ops: list[str]
    min_runtime_version: str
    cpu_delegate: str
    validated_pairs: int
    max_abs_diff: float
    test_rmse: float
    saved_model_test_rmse: float
    backend: str


def _read(path: str, columns: tuple[str, ...], what: str) -> Columns:
    try:
        return read_split(path, columns, what)
    except SplitFileError as error:
        raise ConversionError(str(error)) from error


def convert(saved_model_dir: Path, config: ConvertConfig) -> tuple[bytes, compatibility.ModelOps]:
    """Converts a ranker SavedModel's ``score`` signature to TFLite (the export step).

    Args:
        saved_model_dir: A resolved SavedModel folder (``serving.resolve``).
        config: The variant, its calibration data (int8) and the target runtime.

    Returns:
        The ``.tflite`` bytes and the ops they use.

    Raises:
        ConversionError: Not an EdgeRank ranker, or unusable calibration data.
        CompatibilityError: The model needs ops the target runtime lacks.
    """
    representative = None
    if config.quantize == "int8":
        calibration = _read(config.calibration_data, ("user_id", "movie_title"), "calibration data")
        representative = quantization.representative_requests(
            calibration["user_id"], calibration["movie_title"], config.calibration_requests,
            config.calibration_candidates, config.seed)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir), signature_keys=[SIGNATURE])
    quantization.configure(converter, config.quantize, config.per_channel_dense, representative)
    with quantization.string_capable_calibration():
        model = converter.convert()
    model_ops = compatibility.inspect(model)
    compatibility.check(model_ops, config.target_runtime)
    return model, model_ops


def validate(ranker: EdgeRanker, pairs: Columns, reference: np.ndarray, config: ConvertConfig) -> Validation:
    """Scores the validation pairs with the converted model and gates it against the SavedModel's scores.

    Args:
        ranker: The converted model, loaded in the edge client.
        pairs: ``user_id``, ``movie_title`` and ``user_rating`` columns.
        reference: The SavedModel's scores of the same pairs.
        config: The variant and its tolerances: float32 must match within
            ``tolerance`` on every pair; every variant must keep its RMSE within
            ``rmse_tolerance`` of the SavedModel's.

    Returns:
        The comparison.

    Raises:
        ConversionError: The model fails the tolerance or the quality gate.
    """
    converted = scoring.score_pairs(ranker.score, pairs["user_id"], pairs["movie_title"])
    validation = Validation(
        pairs=len(reference), max_abs_diff=float(np.max(np.abs(converted - reference))),
        test_rmse=metrics.rmse(converted, pairs["user_rating"]),
        saved_model_test_rmse=metrics.rmse(reference, pairs["user_rating"]),
        backend=f"{ranker.backend.name} {ranker.backend.version}", cpu_delegate=ranker.cpu_delegate)
    log.info("%s vs SavedModel on %d test pairs: max |diff| %.2e, RMSE %.4f vs %.4f (%s, %s)",
             config.quantize, validation.pairs, validation.max_abs_diff, validation.test_rmse,
             validation.saved_model_test_rmse, validation.backend, validation.cpu_delegate)
    if config.quantize == "none" and not validation.max_abs_diff <= config.tolerance:
        raise ConversionError(f"converted model differs from the SavedModel by {validation.max_abs_diff:.3g} > "
                              f"{config.tolerance:g} on the validation data")
    if not validation.test_rmse - validation.saved_model_test_rmse <= config.rmse_tolerance:
        raise ConversionError(
            f"quality gate: the {config.quantize} variant's test RMSE {validation.test_rmse:.4f} is worse than the "
            f"SavedModel's {validation.saved_model_test_rmse:.4f} by more than {config.rmse_tolerance:g}")
    return validation


def describe(info: dict[str, Any], saved_model_dir: Path, config: ConvertConfig, model_ops: compatibility.ModelOps,
             validation: Validation, signature: dict[str, Any]) -> dict[str, Any]:
    """The manifest fields of a validated model (``edge_runtime.manifest``), less those the bundle computes.

    Args:
        info: The SavedModel's ``assets.extra/edgerank.json``.
        saved_model_dir: The SavedModel it was converted from.
        config: How it was converted.
        model_ops: Its ops (``convert``).
        validation: How it compares with the SavedModel (``validate``).
        signature: The ``score`` signature as the interpreter sees it.
    """
    return {
        "name": info["name"],
        "version": f"{info['version']}+{quantization.VARIANTS[config.quantize]}",
        "signature": signature,
        "architecture": info["architecture"],
        "out_of_vocabulary": OUT_OF_VOCABULARY,
        "quantization": {"mode": config.quantize, "per_channel_dense": config.per_channel_dense},
        "runtime": {"ops": model_ops.ops, "min_runtime_version": model_ops.min_runtime_version,
                    "target_runtime": config.target_runtime, "cpu_delegate": validation.cpu_delegate},
        "metrics": {"test_rmse": validation.test_rmse, "saved_model_test_rmse": validation.saved_model_test_rmse,
                    "max_abs_diff": validation.max_abs_diff, "pairs": validation.pairs,
                    "tolerance": config.tolerance if config.quantize == "none" else None,
                    "rmse_tolerance": config.rmse_tolerance, "backend": validation.backend},
        "training": {"saved_model": str(saved_model_dir), "model_version": info["version"],
                     "data_fingerprint": info["data_fingerprint"], "trained": info["created"],
                     "test_metrics": info["test_metrics"]},
    }


def convert_ranker(config: ConvertConfig) -> ConversionReport:
    """Converts, validates and describes the ranker: a validated bundle at ``config.output``.

    Args:
        config: SavedModel, variant, output bundle, validation and calibration
            data, tolerances, target runtime.

    Returns:
        The report of the written bundle.

    Raises:
        ConversionError: Missing or malformed inputs, a model the target runtime
            cannot load, or one that fails the tolerance or the quality gate (no
            bundle is written then, and a previous one stays).
    """
    if config.quantize not in quantization.VARIANTS:
        raise ConversionError(f"unknown --quantize {config.quantize!r}; choose one of {list(quantization.VARIANTS)}")
    saved_model_dir = serving.resolve(config.saved_model)
    info = serving.read_info(saved_model_dir)
    if "architecture" not in info:
        raise ConversionError(f"{saved_model_dir} does not describe its architecture in {serving.EXTRA_DIR}/"
                              f"{serving.MODEL_INFO}: it was exported by an older EdgeRank; retrain it")
    pairs = _read(config.validation_data, ("user_id", "movie_title", "user_rating"), "validation data")
    loaded = tf.saved_model.load(str(saved_model_dir))
    if SIGNATURE not in loaded.signatures:
        raise ConversionError(f"{saved_model_dir} has no {SIGNATURE!r} signature: it is not an EdgeRank ranker")

    model, model_ops = convert(saved_model_dir, config)
    reference = scoring.saved_model_scorer(loaded)(pairs["user_id"], pairs["movie_title"])
    output = Path(config.output or Path("artifacts", "edge", quantization.VARIANTS[config.quantize]))
    with atomic.directory(output) as folder:
        ranker = EdgeRanker(bundle.write_model(folder, model), verify=False)
        try:
            validation = validate(ranker, pairs, reference, config)
        except ConversionError as error:
            raise ConversionError(f"{error}; the previous bundle at {output} is kept") from error
        bundle.write_description(folder, model, describe(info, saved_model_dir, config, model_ops, validation,
                                                         ranker.signature()), serving.read_titles(saved_model_dir))
    return ConversionReport(
        bundle=str(output), quantization=config.quantize, size_bytes=len(model), sha256=sha256_hex(model),
        ops=model_ops.ops, min_runtime_version=model_ops.min_runtime_version, cpu_delegate=validation.cpu_delegate,
        validated_pairs=validation.pairs, max_abs_diff=validation.max_abs_diff, test_rmse=validation.test_rmse,
        saved_model_test_rmse=validation.saved_model_test_rmse, backend=validation.backend)
