"""Convert the ranker's ``score`` signature to a validated TFLite bundle.

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
in ``converters.bundle``; its manifest in ``edge_runtime.manifest``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from converters import bundle, compatibility, quantization
from converters.config import ConvertConfig
from edge_runtime import EdgeRanker, atomic
from edge_runtime.errors import EdgeRankError
from edge_runtime.manifest import sha256_hex
from edge_runtime.ranker import SIGNATURE as SCORE_SIGNATURE
from edge_runtime.ranker import score_pairs
from trainer import metrics, serving

log = logging.getLogger(__name__)

_BATCH = 4096


class ConversionError(EdgeRankError):
    """The input is unusable or the converted model disagrees with the SavedModel."""


#: How the model treats ids and titles it was not trained on (goes into the manifest).
OUT_OF_VOCABULARY = (
    "Unknown user ids and titles share one learned out-of-vocabulary embedding each and are still "
    "scored; the outputs user_known and title_known are false for them."
)


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


def _pairs(path: str | Path, columns: tuple[str, ...], what: str) -> list[np.ndarray]:
    """Reads equal-length 1-D columns from an ``.npz`` written by ``edgerank train``.

    Raises:
        ConversionError: The file is missing, unreadable, lacks a column, or is empty.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            values = [data[name] for name in columns]
    except (OSError, ValueError, KeyError) as error:
        raise ConversionError(
            f"{what} {path} is unusable ({error}); it must be an .npz with columns {', '.join(columns)}, "
            "as `edgerank train` writes under data/"
        ) from error
    if len({v.shape for v in values}) != 1 or values[0].ndim != 1 or len(values[0]) == 0:
        raise ConversionError(f"{what} {path}: columns {', '.join(columns)} must be equal, non-empty 1-D arrays")
    return [v.astype(np.str_) if v.dtype.kind in "OSU" else v.astype(np.float32) for v in values]


def saved_model_scores(saved_model: tf.types.experimental.GenericFunction, users: np.ndarray,
                       titles: np.ndarray) -> np.ndarray:
    """Scores (user, title) pairs with the SavedModel's ``serving_default`` signature."""
    return np.concatenate(
        [
            saved_model(user_id=tf.constant(users[i : i + _BATCH]),
                        movie_title=tf.constant(titles[i : i + _BATCH]))["rating"].numpy()
            for i in range(0, len(users), _BATCH)
        ]
    )


def convert_ranker(config: ConvertConfig) -> ConversionReport:
    """Converts the ranker SavedModel's ``score`` signature into a validated bundle.

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
    titles = (saved_model_dir / serving.EXTRA_DIR / serving.TITLES).read_text(encoding="utf-8").splitlines()
    users, pair_titles, ratings = _pairs(config.validation_data, ("user_id", "movie_title", "user_rating"),
                                         "validation data")
    loaded = tf.saved_model.load(str(saved_model_dir))
    if SCORE_SIGNATURE not in loaded.signatures:
        raise ConversionError(f"{saved_model_dir} has no {SCORE_SIGNATURE!r} signature: it is not an EdgeRank ranker")

    representative = None
    if config.quantize == "int8":
        train_users, train_titles = _pairs(config.calibration_data, ("user_id", "movie_title"), "calibration data")
        representative = quantization.representative_requests(
            train_users, train_titles, config.calibration_requests, config.calibration_candidates, config.seed)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir), signature_keys=[SCORE_SIGNATURE])
    quantization.configure(converter, config.quantize, config.per_channel_dense, representative)
    with quantization.string_capable_calibration():
        model = converter.convert()
    model_ops = compatibility.inspect(model)
    compatibility.check(model_ops, config.target_runtime)

    reference = saved_model_scores(loaded.signatures["serving_default"], users, pair_titles)
    output = Path(config.output or Path("artifacts", "edge", quantization.VARIANTS[config.quantize]))
    with atomic.directory(output) as folder:
        ranker = EdgeRanker(bundle.write_model(folder, model), verify=False)
        converted = score_pairs(ranker.score, users, pair_titles)
        report = ConversionReport(
            bundle=str(output), quantization=config.quantize, size_bytes=len(model),
            sha256=sha256_hex(model), ops=model_ops.ops, min_runtime_version=model_ops.min_runtime_version,
            cpu_delegate=ranker.cpu_delegate, validated_pairs=len(users),
            max_abs_diff=float(np.max(np.abs(converted - reference))),
            test_rmse=metrics.rmse(converted, ratings), saved_model_test_rmse=metrics.rmse(reference, ratings),
            backend=f"{ranker.backend.name} {ranker.backend.version}",
        )
        log.info("%s vs SavedModel on %d test pairs: max |diff| %.2e, RMSE %.4f vs %.4f (%s, %s)",
                 config.quantize, len(users), report.max_abs_diff, report.test_rmse, report.saved_model_test_rmse,
                 report.backend, report.cpu_delegate)
        _quality_gate(config, report)
        bundle.write_description(folder, model, {
            "name": info["name"],
            "version": f"{info['version']}+{quantization.VARIANTS[config.quantize]}",
            "signature": ranker.signature(),
            "architecture": info["architecture"],
            "out_of_vocabulary": OUT_OF_VOCABULARY,
            "quantization": {"mode": config.quantize, "per_channel_dense": config.per_channel_dense},
            "runtime": {"ops": report.ops, "min_runtime_version": report.min_runtime_version,
                        "target_runtime": config.target_runtime, "cpu_delegate": report.cpu_delegate},
            "metrics": {"test_rmse": report.test_rmse, "saved_model_test_rmse": report.saved_model_test_rmse,
                        "max_abs_diff": report.max_abs_diff, "pairs": report.validated_pairs,
                        "tolerance": config.tolerance if config.quantize == "none" else None,
                        "rmse_tolerance": config.rmse_tolerance, "backend": report.backend},
            "training": {"saved_model": str(saved_model_dir), "model_version": info["version"],
                         "data_fingerprint": info["data_fingerprint"], "trained": info["created"],
                         "test_metrics": info["test_metrics"]},
        }, titles)
    return report


def _quality_gate(config: ConvertConfig, report: ConversionReport) -> None:
    """Refuses a variant that strays from the SavedModel (see the module docstring)."""
    where = f"the previous bundle at {report.bundle} is kept"
    if config.quantize == "none" and not report.max_abs_diff <= config.tolerance:
        raise ConversionError(
            f"converted model differs from the SavedModel by {report.max_abs_diff:.3g} > {config.tolerance:g} "
            f"on the validation data; {where}"
        )
    if not report.test_rmse - report.saved_model_test_rmse <= config.rmse_tolerance:
        raise ConversionError(
            f"quality gate: the {config.quantize} variant's test RMSE {report.test_rmse:.4f} is worse than the "
            f"SavedModel's {report.saved_model_test_rmse:.4f} by more than {config.rmse_tolerance:g}; {where}"
        )
