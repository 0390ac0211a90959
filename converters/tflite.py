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
2. Validation: every test pair (of at most ``validation_users`` users, a
   seeded sample) is scored by the SavedModel's
   ``serving_default`` signature (the model's meaning) and by the converted
   model through ``edge_runtime`` (what the device runs, one user against their
   titles). The float32 model must match within ``tolerance`` on every pair;
   every variant must keep its test RMSE within ``rmse_tolerance`` of the
   SavedModel's (the quality gate). A ranker is judged by its order, so both
   models also score the whole catalogue for ``order_users`` users: every
   variant must keep ``min_top_10_overlap`` of each user's top 10 and order
   ``min_pair_agreement`` of the title pairs as the SavedModel does (the order
   gate, ``interactions.metrics.order_agreement``); NDCG@10 of the test titles is
   reported for both.
3. Delegate: the CPU delegate the model runs with is recorded (XNNPACK if it
   accepts the model, else the built-in kernels).

A refused variant leaves the previous bundle untouched; an accepted one
replaces it, and the replaced bundle is kept beside it as
``<bundle>.previous/`` (one generation), so an app can roll back. The bundle's layout is
in ``converters.bundle``; its manifest in ``edge_runtime.manifest``;
the names it keeps in ``edge_runtime.contract``.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from converters import bundle, compatibility, quantization, weight_only
from converters.config import ConvertConfig
from edge_runtime import EdgeRanker, atomic
from edge_runtime.contract import HISTORY_SIGNATURES, PERSONALIZE_SIGNATURE, SIGNATURE
from edge_runtime.errors import EdgeRankError
from edge_runtime.manifest import sha256_hex
from trainer import scoring, serving
from interactions import holdout
from interactions.schema import Columns
from interactions.split_files import SplitFileError, read_split

log = logging.getLogger(__name__)

#: A bundle that conversion replaces is kept beside the new one, with this suffix.
PREVIOUS_SUFFIX = ".previous"


class ConversionError(EdgeRankError):
    """The input is unusable or the converted model disagrees with the SavedModel."""


#: How the model treats ids and titles it was not trained on (goes into the manifest).
OUT_OF_VOCABULARY = (
    "Unknown user ids and titles share one learned out-of-vocabulary embedding each and are still "
    "scored; the outputs user_known and title_known are false for them."
)
#: The same for a history model, which knows no users at all.
HISTORY_OUT_OF_VOCABULARY = (
    "No user ids: personalize takes the user's own ratings. Unknown history titles are ignored "
    "(history_known is false for them); an unknown candidate is scored with the code of an unrated "
    "title (title_known false); recommend returns catalogue titles only."
)


@dataclass(frozen=True)
class Validation:
    """How closely a converted model matches the SavedModel (``trainer.scoring.compare``'s figures).

    Attributes:
        pairs: (user, title) validation pairs scored by both models.
        max_abs_diff: Largest absolute score difference over those pairs.
        test_rmse: The converted model's RMSE on them.
        saved_model_test_rmse: The SavedModel's RMSE on them.
        ndcg_at_10: NDCG@10 of each user's validation titles ranked by the converted model.
        saved_model_ndcg_at_10: The same, ranked by the SavedModel.
        order_users: Users whose whole catalogue both models scored.
        order_titles: The catalogue's size.
        distinct_scores: Median distinct scores per user over the catalogue (the order's resolution).
        top_10_overlap: Mean share of the SavedModel's top 10 per user that the converted model keeps.
        top_100_overlap: The same for the top 100.
        pair_agreement: Share of title pairs ordered as the SavedModel orders them (ties count half).
        backend: The edge interpreter that scored the converted model.
        cpu_delegate: ``xnnpack`` or ``none`` (built-in kernels): what runs it.
    """

    pairs: int
    max_abs_diff: float
    test_rmse: float
    saved_model_test_rmse: float
    ndcg_at_10: float
    saved_model_ndcg_at_10: float
    order_users: int
    order_titles: int
    distinct_scores: float
    top_10_overlap: float
    top_100_overlap: float
    pair_agreement: float
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
        validation: How it compares with the SavedModel.
    """

    bundle: str
    quantization: str
    size_bytes: int
    sha256: str
    ops: list[str]
    min_runtime_version: str
    validation: Validation


def _read(path: str, columns: tuple[str, ...], what: str) -> Columns:
    try:
        return read_split(path, columns, what)
    except SplitFileError as error:
        raise ConversionError(str(error)) from error


def convert(saved_model_dir: Path, config: ConvertConfig, signatures: list[str] | None = None,
            ) -> tuple[bytes, compatibility.ModelOps]:
    """Converts a ranker SavedModel's signatures to TFLite (the export step).

    Args:
        saved_model_dir: A resolved SavedModel folder (``serving.resolve``).
        config: The variant, its calibration data (int8) and the target runtime.
        signatures: The signatures to convert: ``score`` (the default, an id model) or a history
            model's three.

    Returns:
        The ``.tflite`` bytes and the ops they use.

    Raises:
        ConversionError: Unusable calibration data (full-integer int8).
        CompatibilityError: The model needs ops the target runtime lacks.
    """
    representative = None
    signatures = signatures or [SIGNATURE]
    if config.quantize == "int8" and config.int8_activations and signatures != [SIGNATURE]:
        raise ConversionError("--int8-activations calibrates a user-id ranker; a history model is int8 weight-only")
    if config.quantize == "int8" and config.int8_activations:
        calibration = _read(config.calibration_data, ("user_id", "movie_title"), "calibration data")
        representative = quantization.representative_requests(
            calibration["user_id"], calibration["movie_title"], config.calibration_requests,
            config.calibration_candidates, config.seed)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir), signature_keys=signatures)
    quantization.configure(converter, config.quantize, config.per_channel_dense, representative,
                           config.int8_activations)
    with quantization.string_capable_calibration():
        model = converter.convert()
    if config.quantize == "int8" and not config.int8_activations:
        model = weight_only.quantize_weights(model)
    model_ops = compatibility.inspect(model)
    compatibility.check(model_ops, config.target_runtime)
    return model, model_ops


def counted(score: Callable[..., np.ndarray], progress: tqdm) -> Callable[..., np.ndarray]:
    """``score``, advancing ``progress`` by one request at each call."""

    def counted_score(*arguments: Any) -> np.ndarray:
        scores = score(*arguments)
        progress.update()
        return scores

    return counted_score


def validation_requests(pairs: Columns, config: ConvertConfig) -> int:
    """The scoring calls ``reference_scores`` and ``validate`` make: a progress bar's total."""
    users = len(np.unique(pairs["user_id"]))
    return 1 + 2 * min(config.order_users, users) + users


def validate(ranker: EdgeRanker, reference: scoring.Reference, config: ConvertConfig,
             histories: dict[str, scoring.History] | None = None, progress: tqdm | None = None) -> Validation:
    """Scores what the SavedModel scored with the converted model, and gates it.

    Args:
        ranker: The converted model, loaded in the edge client.
        reference: The SavedModel's scores (``trainer.scoring.reference_scores``).
        histories: A history model's input: each user's training ratings.
        progress: A bar advanced once per scoring call; ``None``: none.
        config: The variant and its gates: float32 must match within
            ``tolerance`` on every pair; every variant must keep its RMSE within
            ``rmse_tolerance`` of the SavedModel's, and keep its order
            (``min_top_10_overlap``, ``min_pair_agreement``).

    Returns:
        The comparison.

    Raises:
        ConversionError: The model fails the tolerance, the quality gate or the order gate.
    """
    score = scoring.edge_scorer(ranker, histories)
    validation = Validation(**scoring.compare(score if progress is None else counted(score, progress), reference),
                            backend=f"{ranker.backend.name} {ranker.backend.version}", cpu_delegate=ranker.cpu_delegate)
    log.info("%s vs SavedModel on %d test pairs: max |diff| %.2e, RMSE %.4f vs %.4f, NDCG@10 %.4f vs %.4f; over "
             "%d users x %d titles: %.0f distinct scores per user, top-10 overlap %.4f, top-100 %.4f, pairs in "
             "order %.4f (%s, %s)", config.quantize, validation.pairs, validation.max_abs_diff, validation.test_rmse,
             validation.saved_model_test_rmse, validation.ndcg_at_10, validation.saved_model_ndcg_at_10,
             validation.order_users, validation.order_titles, validation.distinct_scores, validation.top_10_overlap,
             validation.top_100_overlap, validation.pair_agreement, validation.backend, validation.cpu_delegate)
    tolerance = config.tolerance if histories is None else config.history_tolerance
    if config.quantize == "none" and not validation.max_abs_diff <= tolerance:
        raise ConversionError(f"converted model differs from the SavedModel by {validation.max_abs_diff:.3g} > "
                              f"{tolerance:g} on the validation data")
    if not validation.test_rmse - validation.saved_model_test_rmse <= config.rmse_tolerance:
        raise ConversionError(
            f"quality gate: the {config.quantize} variant's test RMSE {validation.test_rmse:.4f} is worse than the "
            f"SavedModel's {validation.saved_model_test_rmse:.4f} by more than {config.rmse_tolerance:g}")
    if not (validation.top_10_overlap >= config.min_top_10_overlap
            and validation.pair_agreement >= config.min_pair_agreement):
        raise ConversionError(
            f"order gate: the {config.quantize} variant keeps a top-10 overlap of {validation.top_10_overlap:.4f} "
            f"with the SavedModel (at least {config.min_top_10_overlap:g}) and orders {validation.pair_agreement:.4f} "
            f"of title pairs alike (at least {config.min_pair_agreement:g}), with "
            f"{validation.distinct_scores:.0f} distinct scores per user, over {validation.order_users} users x "
            f"{validation.order_titles} titles")
    return validation


def describe(info: dict[str, Any], saved_model_dir: Path, config: ConvertConfig, model_ops: compatibility.ModelOps,
             validation: Validation, signatures: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The manifest fields of a validated model (``edge_runtime.manifest``), less those the bundle computes.

    Args:
        info: The SavedModel's ``assets.extra/edgerank.json``.
        saved_model_dir: The SavedModel it was converted from.
        config: How it was converted.
        model_ops: Its ops (``convert``).
        validation: How it compares with the SavedModel (``validate``).
        signatures: The signatures as the interpreter sees them (``EdgeRanker.signatures``).
    """
    history = PERSONALIZE_SIGNATURE in signatures
    return {
        "name": info["name"],
        "version": f"{info['version']}+{quantization.VARIANTS[config.quantize]}",
        "kind": "history" if history else "user_id",
        "signature": signatures[SIGNATURE],
        **({"signatures": signatures} if history else {}),
        "architecture": info["architecture"],
        **({"schema": info["schema"]} if "schema" in info else {}),
        "out_of_vocabulary": HISTORY_OUT_OF_VOCABULARY if history else OUT_OF_VOCABULARY,
        "quantization": {"mode": config.quantize, "per_channel_dense": config.per_channel_dense,
                         "int8_activations": config.quantize == "int8" and config.int8_activations},
        "runtime": {"ops": model_ops.ops, "min_runtime_version": model_ops.min_runtime_version,
                    "target_runtime": config.target_runtime, "cpu_delegate": validation.cpu_delegate},
        "metrics": {**{name: value for name, value in dataclasses.asdict(validation).items()
                       if name != "cpu_delegate"},
                    "tolerance": (config.history_tolerance if history else config.tolerance)
                    if config.quantize == "none" else None,
                    "rmse_tolerance": config.rmse_tolerance, "min_top_10_overlap": config.min_top_10_overlap,
                    "min_pair_agreement": config.min_pair_agreement},
        "training": {"saved_model": str(saved_model_dir), "model_version": info["version"],
                     "data_fingerprint": info["data_fingerprint"], "trained": info["created"],
                     "test_metrics": info["test_metrics"]},
    }


def previous_bundle(bundle: Path) -> Path:
    """Where a converted bundle's predecessor is kept (``<bundle>.previous``), so an app can roll back to it."""
    return bundle.with_name(bundle.name + PREVIOUS_SUFFIX)


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
    pairs = holdout.sample_users(_read(config.validation_data, ("user_id", "movie_title", "user_rating"),
                                       "validation data"), config.validation_users, config.seed)
    loaded = tf.saved_model.load(str(saved_model_dir))
    if SIGNATURE not in loaded.signatures:
        raise ConversionError(f"{saved_model_dir} has no {SIGNATURE!r} signature: it is not an EdgeRank ranker")
    histories = None
    if PERSONALIZE_SIGNATURE in loaded.signatures:
        history_data = _read(config.history_data, ("user_id", "movie_title", "user_rating"), "history data")
        histories = scoring.user_histories(history_data, pairs["user_id"])
        reference_model = scoring.pair_scorer(scoring.history_scorer(*scoring.saved_history_functions(loaded),
                                                                     histories))
    else:
        reference_model = scoring.saved_model_scorer(loaded)

    model, model_ops = convert(saved_model_dir, config, list(HISTORY_SIGNATURES) if histories else [SIGNATURE])
    titles = serving.read_titles(saved_model_dir)
    name = quantization.VARIANTS[config.quantize]
    output = Path(config.output or Path("artifacts", "edge", f"history-{name}" if histories else name))
    # The bar shows on a terminal only (disable=None), and goes once validation ends.
    with atomic.directory(output, keep_previous=previous_bundle(output)) as folder, \
            tqdm(total=validation_requests(pairs, config), desc=f"validating {name} against the SavedModel",
                 unit="request", file=sys.stderr, disable=None, leave=False) as progress:
        reference = scoring.reference_scores(counted(reference_model, progress), pairs, titles, config.order_users,
                                             config.seed)
        ranker = EdgeRanker(bundle.write_model(folder, model), verify=False)
        try:
            validation = validate(ranker, reference, config, histories, progress)
        except ConversionError as error:
            raise ConversionError(f"{error}; the previous bundle at {output} is kept") from error
        bundle.write_description(folder, model, describe(info, saved_model_dir, config, model_ops, validation,
                                                         ranker.signatures()), titles,
                                 serving.read_names(saved_model_dir))
    return ConversionReport(bundle=str(output), quantization=config.quantize, size_bytes=len(model),
                            sha256=sha256_hex(model), ops=model_ops.ops,
                            min_runtime_version=model_ops.min_runtime_version, validation=validation)
