"""``manifest.json``: what a converted model is, and the checksum that guards it.

A model bundle is a folder holding the ``.tflite`` file, ``manifest.json``
and ``titles.txt`` (``edge_runtime.contract``; written by ``converters.bundle``). The runtime reads the
model's bytes, checks their SHA-256 against the manifest, and only then hands
them to the interpreter: a flipped byte can make native code crash or score
silently wrong, and only a checksum catches it.

Schema (version 2)::

    {
      "schema_version": 2,
      "name": "movielens-ranker", "version": "3+int8",
      "model": "ranker.tflite",          # file name, beside the manifest
      "sha256": "…", "size_bytes": 196456,
      "signature": {"name": "score",
                    "inputs": {"user_id": {"dtype": "string", "shape": [1]},
                               "movie_title": {"dtype": "string", "shape": [-1]}},
                    "outputs": {"rating": {"dtype": "float32", "shape": [-1]},
                                "user_known": {"dtype": "bool", "shape": [1]},
                                "title_known": {"dtype": "bool", "shape": [-1]}}},
      "architecture": {"model": "tutorial", "user_vocabulary": 943, "title_vocabulary": 1664,
                       "user_embedding": 32, "title_embedding": 32,
                       "dense": [[64, 256], [256, 64], [64, 1]]},
                      # AutoRec: {"model": "autorec", …, "user_embedding": 501,
                      #           "title_embedding": 501, "dense": []} (one dot product)
      "out_of_vocabulary": "…",
      "quantization": {"mode": "int8", "per_channel_dense": false},
      "runtime": {"ops": [["FULLY_CONNECTED", 4], …], "min_runtime_version": "2.5.0",
                  "target_runtime": "2.14.0",
                  "cpu_delegate": "xnnpack"},   # or "none": load without default delegates
      "metrics": {"test_rmse": 1.1082, "saved_model_test_rmse": 1.1079, "max_abs_diff": 0.02,
                  "pairs": 20000, "rmse_tolerance": 0.01, "backend": "ai_edge_litert 2.3.0"},
      "training": {"saved_model": "…/ranking/3", "model_version": 3,
                   "data_fingerprint": "…", "trained": "2026-11-23T10:00:00+00:00"},
      "titles": {"file": "titles.txt", "count": 1664},
      "names": {"file": "names.txt", "count": 17632},   # a log with an items file: display names
      "schema": {"source": "…", "format": "csv", "feedback": "implicit", "value_range": [1, 352698], …},
                                                          # what edgerank train read (interactions.schema)
      "created": "2026-11-23T10:00:00+00:00"
    }
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_runtime.contract import MANIFEST_FILE
from edge_runtime.errors import EdgeRankError
from edge_runtime.flatbuffer import DamagedFlatBuffer, check_tflite

SCHEMA_VERSION = 2
#: ``runtime.cpu_delegate`` values: the interpreter's default CPU delegate (XNNPACK) or none.
CPU_DELEGATES = ("xnnpack", "none")


class ModelError(EdgeRankError):
    """The model is missing, damaged, unverifiable, or not an EdgeRank ranker."""


@dataclass(frozen=True)
class VerifiedModel:
    """A model's bytes, checked against its manifest (if it was).

    Attributes:
        path: The ``.tflite`` file.
        content: Its bytes, which the interpreter loads.
        manifest: The parsed manifest, or ``None`` when loaded unverified.
    """

    path: Path
    content: bytes
    manifest: dict[str, Any] | None


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def read_manifest(path: Path) -> dict[str, Any]:
    """Parses and checks the fields the runtime relies on.

    Raises:
        ModelError: Unreadable JSON, an unknown schema version, or a missing field.
    """
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelError(f"cannot read {path}: {error}") from error
    if not isinstance(manifest, dict):
        raise ModelError(f"{path} is not a JSON object")
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise ModelError(f"{path} has schema_version {manifest.get('schema_version')!r}; this runtime reads {SCHEMA_VERSION}")
    for field, kind in (("model", str), ("sha256", str), ("size_bytes", int)):
        if not isinstance(manifest.get(field), kind):
            raise ModelError(f"{path} lacks a valid {field!r} field")
    runtime = manifest.get("runtime", {})
    delegate = runtime.get("cpu_delegate", "xnnpack") if isinstance(runtime, dict) else None
    if delegate not in CPU_DELEGATES:
        raise ModelError(f"{path}: runtime.cpu_delegate must be one of {list(CPU_DELEGATES)}, got {delegate!r}")
    if Path(manifest["model"]).name != manifest["model"]:
        raise ModelError(f"{path}: 'model' must be a file name beside the manifest, got {manifest['model']!r}")
    return manifest


def load_model(path: str | os.PathLike[str], verify: bool = True) -> VerifiedModel:
    """Finds, reads and verifies a model.

    Args:
        path: A bundle folder holding ``manifest.json``, or a ``.tflite`` file
            (its folder's ``manifest.json`` is used when it names that file).
        verify: Require a manifest and a matching checksum. ``False`` loads a
            bare file after structural checks only, which cannot catch every
            corruption.

    Raises:
        ModelError: What is wrong, before any native code has read the bytes.
    """
    path = Path(path)
    if path.is_dir():
        manifest_path = path / MANIFEST_FILE
        if not manifest_path.is_file():
            raise ModelError(f"{path} is a folder without {MANIFEST_FILE}: not a model bundle")
        manifest = read_manifest(manifest_path)
        model_path = path / manifest["model"]
    else:
        model_path = path
        manifest_path = path.parent / MANIFEST_FILE
        manifest = read_manifest(manifest_path) if manifest_path.is_file() else None
        if manifest is not None and manifest["model"] != path.name:
            manifest = None  # describes another model in the same folder
    if not model_path.is_file():
        raise ModelError(f"model file not found: {model_path}")
    content = model_path.read_bytes()
    if manifest is None:
        if verify:
            raise ModelError(
                f"no {MANIFEST_FILE} beside {model_path} to verify it against: convert with edgerank convert "
                "(which writes one), or load it unverified (EdgeRanker(..., verify=False); edgerank score and "
                "info take --no-verify)"
            )
    elif len(content) != manifest["size_bytes"] or sha256_hex(content) != manifest["sha256"]:
        raise ModelError(
            f"{model_path} does not match its manifest ({len(content)} bytes, expected "
            f"{manifest['size_bytes']}; SHA-256 differs): the file is damaged or was replaced"
        )
    _check_flatbuffer(model_path, content)
    return VerifiedModel(model_path, content, manifest)


def read_titles(model: VerifiedModel) -> list[str]:
    """The catalogue of a verified bundle (``titles.txt``), in vocabulary order.

    Raises:
        ModelError: The model was loaded without a manifest, or the titles file
            is missing, not UTF-8, or holds another count than the manifest says.
    """
    if model.manifest is None or not isinstance(model.manifest.get("titles"), dict):
        raise ModelError(f"{model.path} has no manifest naming a titles file: not a complete bundle")
    path = model.path.parent / Path(str(model.manifest["titles"].get("file"))).name
    try:
        titles = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ModelError(f"cannot read the bundle's titles {path}: {error}") from error
    if len(titles) != model.manifest["titles"].get("count"):
        raise ModelError(f"{path} has {len(titles)} titles, the manifest says "
                         f"{model.manifest['titles'].get('count')}: the bundle is incomplete")
    return titles


def read_names(model: VerifiedModel) -> list[str] | None:
    """The display names of a verified bundle's titles (``names.txt``, the same order), or ``None`` without one.

    Raises:
        ModelError: The manifest names a names file that is missing, not UTF-8, or holds another count.
    """
    entry = (model.manifest or {}).get("names")
    if not isinstance(entry, dict):
        return None
    path = model.path.parent / Path(str(entry.get("file"))).name
    try:
        names = path.read_text(encoding="utf-8").split("\n")[:-1]
    except (OSError, UnicodeDecodeError) as error:
        raise ModelError(f"cannot read the bundle's names {path}: {error}") from error
    if len(names) != entry.get("count"):
        raise ModelError(f"{path} has {len(names)} names, the manifest says {entry.get('count')}: "
                         "the bundle is incomplete")
    return names


def _check_flatbuffer(path: Path, content: bytes) -> None:
    # A TFLite model is a FlatBuffer: a 4-byte root offset, then the "TFL3" identifier.
    if len(content) < 8 or content[4:8] != b"TFL3":
        raise ModelError(f"not a TFLite model (no TFL3 identifier): {path}")
    try:
        check_tflite(content)
    except DamagedFlatBuffer as error:
        raise ModelError(f"truncated or damaged TFLite model {path}: {error}") from None
