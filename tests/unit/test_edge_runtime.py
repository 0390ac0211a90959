"""The edge client: backend choice, model checks, scoring contract."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_runtime import BackendUnavailableError, EdgeRanker, ModelError, atomic, load_backend
from tests.conftest import movie_title


def test_backend_is_named_and_versioned() -> None:
    backend = load_backend()
    assert backend.name in ("ai_edge_litert", "tflite_runtime") and backend.version


def test_unknown_backend_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(BackendUnavailableError, match="unknown backend 'tensorflow'"):
        load_backend("tensorflow")
    monkeypatch.setenv("EDGERANK_BACKEND", "nope")
    with pytest.raises(BackendUnavailableError, match="unknown backend 'nope'"):
        load_backend()


@pytest.mark.parametrize("content", [b"", b"garbage that is not a model", b"\x00" * 64])
def test_files_that_are_not_tflite_are_refused_before_loading(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.tflite"
    path.write_bytes(content)
    with pytest.raises(ModelError, match="not a TFLite model"):
        EdgeRanker(path)


def test_a_model_without_the_score_signature_is_refused(tmp_path: Path) -> None:
    import tensorflow as tf

    module = tf.Module()
    module.double = tf.function(lambda x: {"y": 2 * x}, input_signature=[tf.TensorSpec([None], tf.float32)])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([module.double.get_concrete_function()], module)
    path = tmp_path / "other.tflite"
    path.write_bytes(converter.convert())
    with pytest.raises(ModelError, match="has no 'score' signature"):
        EdgeRanker(path)


def test_empty_candidates_give_an_empty_result(converted_model: Path) -> None:
    ranker = EdgeRanker(converted_model)
    assert ranker.score("1", []).shape == (0,)
    assert ranker.rank("1", [], k=3) == []


def test_scores_are_per_candidate_and_order_independent(converted_model: Path) -> None:
    ranker = EdgeRanker(converted_model)
    titles = [movie_title(m) for m in range(1, 11)]
    scores = ranker.score("4", titles)
    assert scores.dtype == np.float32 and scores.shape == (10,)
    np.testing.assert_allclose(ranker.score("4", titles[::-1]), scores[::-1], atol=1e-6)
    np.testing.assert_allclose(ranker.score("4", titles[:3]), scores[:3], atol=1e-6)


def test_atomic_directory_keeps_the_old_folder_when_the_write_fails(tmp_path: Path) -> None:
    target = tmp_path / "model"
    with atomic.directory(target) as folder:
        (folder / "a").write_text("old")
    with pytest.raises(RuntimeError), atomic.directory(target) as folder:
        (folder / "a").write_text("half")
        raise RuntimeError("killed mid-write")
    assert (target / "a").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
