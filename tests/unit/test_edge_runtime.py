"""Edge-client cases that need TensorFlow to build the odd model (the rest is tests/edge)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from edge_runtime import EdgeRanker, ModelError, atomic, load_backend
from tests.conftest import movie_title


def test_a_model_without_the_score_signature_is_refused(tmp_path: Path) -> None:
    import tensorflow as tf

    module = tf.Module()
    module.double = tf.function(lambda x: {"y": 2 * x}, input_signature=[tf.TensorSpec([None], tf.float32)])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([module.double.get_concrete_function()], module)
    path = tmp_path / "other.tflite"
    path.write_bytes(converter.convert())
    with pytest.raises(ModelError, match="has no 'score' signature"):
        EdgeRanker(path, verify=False)


def test_tensorflow_is_the_last_resort_backend(converted_model: Path) -> None:
    backend = load_backend("tensorflow")
    assert backend.name == "tensorflow"
    titles = [movie_title(m) for m in range(1, 6)]
    np.testing.assert_allclose(EdgeRanker(converted_model, backend=backend).score("3", titles),
                               EdgeRanker(converted_model).score("3", titles), atol=1e-6)


def test_conversion_writes_a_verifiable_manifest(converted_model: Path) -> None:
    manifest = json.loads((converted_model.parent / "manifest.json").read_text())
    assert manifest["model"] == converted_model.name and manifest["size_bytes"] == converted_model.stat().st_size
    assert manifest["metrics"]["pairs"] == 200 and manifest["metrics"]["max_abs_diff"] <= 1e-4
    assert EdgeRanker(converted_model.parent).manifest == manifest


def test_atomic_writes_get_normal_permissions(tmp_path: Path) -> None:
    mask = os.umask(0o022)
    try:
        atomic.write_bytes(tmp_path / "f", b"x")
        with atomic.directory(tmp_path / "d"):
            pass
    finally:
        os.umask(mask)
    assert (tmp_path / "f").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o755


def test_atomic_directory_keeps_the_old_folder_when_the_write_fails(tmp_path: Path) -> None:
    target = tmp_path / "model"
    with atomic.directory(target) as folder:
        (folder / "a").write_text("old")
    with pytest.raises(RuntimeError), atomic.directory(target) as folder:
        (folder / "a").write_text("half")
        raise RuntimeError("killed mid-write")
    assert (target / "a").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
