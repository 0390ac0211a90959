"""Convert the ranker's ``score`` signature to TFLite and validate the result.

The converted model keeps the string lookups, so it takes raw ``user_id`` and
``movie_title`` strings; only built-in TFLite ops are allowed (no Flex), so
any TFLite interpreter runs it. Before the file is renamed into place, every
validation pair is scored by the SavedModel's ``serving_default`` signature
(the model's meaning) and by the converted model through ``edge_runtime``
(what the device runs, one user against their titles); if any score differs
by more than the tolerance the file is refused and the previous one stays.
Then ``manifest.json`` is written beside the model (``edge_runtime.manifest``):
its checksum, signature, out-of-vocabulary policy and these validation figures.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from converters.config import ConvertConfig
from edge_runtime import EdgeRanker, atomic, manifest
from edge_runtime.errors import EdgeRankError
from edge_runtime.ranker import SIGNATURE as SCORE_SIGNATURE
from edge_runtime.ranker import score_pairs

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
        output: Path of the ``.tflite`` file.
        manifest: Path of the ``manifest.json`` beside it.
        size_bytes: The model's size.
        sha256: The model's SHA-256.
        validated_pairs: (user, title) pairs scored by both models.
        max_abs_diff: Largest absolute score difference over those pairs.
        tolerance: The accepted maximum.
        backend: The edge interpreter that scored the converted model.
    """

    output: str
    manifest: str
    size_bytes: int
    sha256: str
    validated_pairs: int
    max_abs_diff: float
    tolerance: float
    backend: str


def load_validation_data(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Reads ``user_id`` and ``movie_title`` from a ``.npz`` file.

    Raises:
        ConversionError: The file is missing, unreadable, or lacks a column.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as columns:
            users, titles = columns["user_id"].astype(np.str_), columns["movie_title"].astype(np.str_)
    except (OSError, ValueError, KeyError) as error:
        raise ConversionError(
            f"validation data {path} is unusable ({error}); it must be an .npz with "
            "user_id and movie_title columns, as `edgerank train` writes to data/test.npz"
        ) from error
    if users.shape != titles.shape or users.ndim != 1 or len(users) == 0:
        raise ConversionError(f"validation data {path}: user_id and movie_title must be equal, non-empty 1-D columns")
    return users, titles


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


def architecture(loaded: tf.Module) -> dict:
    """Vocabulary and embedding sizes and dense kernel shapes of a loaded ranker SavedModel.

    Vocabulary sizes exclude the out-of-vocabulary row. Benchmarks derive
    FLOPs from this; apps can read the vocabulary sizes.
    """
    (users, user_dim), = [v.shape.as_list() for v in loaded.model.user_embeddings.variables]
    (titles, title_dim), = [v.shape.as_list() for v in loaded.model.movie_embeddings.variables]
    kernels = [v.shape.as_list() for v in loaded.model.ratings.variables if v.shape.rank == 2]
    return {"user_vocabulary": users - 1, "title_vocabulary": titles - 1, "user_embedding": user_dim,
            "title_embedding": title_dim, "dense": kernels}


def convert_ranker(config: ConvertConfig) -> ConversionReport:
    """Converts the ranker SavedModel's ``score`` signature to a validated ``.tflite``.

    Args:
        config: SavedModel folder, output file, validation data, tolerance.

    Returns:
        The report of the written model and manifest.

    Raises:
        ConversionError: Missing or malformed inputs, or a converted model whose
            scores differ from the SavedModel's by more than the tolerance (no
            file is written then).
    """
    saved_model_dir = Path(config.saved_model)
    if not (saved_model_dir / "saved_model.pb").is_file():
        raise ConversionError(f"{saved_model_dir} is not a SavedModel (no saved_model.pb); run `edgerank train` first")
    users, titles = load_validation_data(config.validation_data)
    loaded = tf.saved_model.load(str(saved_model_dir))
    if SCORE_SIGNATURE not in loaded.signatures:
        raise ConversionError(f"{saved_model_dir} has no {SCORE_SIGNATURE!r} signature: it is not an EdgeRank ranker")

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir), signature_keys=[SCORE_SIGNATURE])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    model_bytes = converter.convert()

    reference = saved_model_scores(loaded.signatures["serving_default"], users, titles)
    with atomic.file(config.output) as tmp:
        tmp.write_bytes(model_bytes)
        ranker = EdgeRanker(tmp, verify=False)
        signature = ranker.signature()
        converted = score_pairs(ranker.score, users, titles)
        max_diff = float(np.max(np.abs(converted - reference)))
        log.info("Converted model vs SavedModel on %d pairs: max |diff| %.2e (tolerance %.0e, %s)",
                 len(users), max_diff, config.tolerance, ranker.backend.name)
        if not max_diff <= config.tolerance:
            raise ConversionError(
                f"converted model differs from the SavedModel by {max_diff:.3g} > {config.tolerance:g} "
                f"on the validation data; {config.output} was not written"
            )
    output = Path(config.output)
    report = ConversionReport(
        output=str(output),
        manifest=str(output.parent / manifest.MANIFEST_NAME),
        size_bytes=len(model_bytes),
        sha256=manifest.sha256_hex(model_bytes),
        validated_pairs=len(users),
        max_abs_diff=max_diff,
        tolerance=config.tolerance,
        backend=f"{ranker.backend.name} {ranker.backend.version}",
    )
    atomic.write_json(report.manifest, {
        "schema_version": manifest.SCHEMA_VERSION,
        "model": output.name,
        "sha256": report.sha256,
        "size_bytes": report.size_bytes,
        "signature": signature,
        "architecture": architecture(loaded),
        "out_of_vocabulary": OUT_OF_VOCABULARY,
        "validation": {"saved_model": str(saved_model_dir), "pairs": report.validated_pairs,
                       "max_abs_diff": report.max_abs_diff, "tolerance": report.tolerance, "backend": report.backend},
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    })
    return report
