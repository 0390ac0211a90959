"""Every quantized variant loads and keeps its accuracy in this runtime (LiteRT or tflite-runtime 2.14)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edge_runtime import EdgeRanker, ModelError
from tests.edge.conftest import EXPECTED_BACKEND


def test_variant_loads_and_keeps_its_test_rmse(variant_bundle: Path, test_split: Path) -> None:
    ranker = EdgeRanker(variant_bundle)
    metrics = ranker.manifest["metrics"]
    if EXPECTED_BACKEND:
        assert ranker.backend.name == EXPECTED_BACKEND
    assert ranker.cpu_delegate == ranker.manifest["runtime"]["cpu_delegate"]
    with np.load(test_split) as split:
        users, titles, ratings = split["user_id"], split["movie_title"], split["user_rating"]
    scores = np.empty(len(users), dtype=np.float32)
    for user in np.unique(users):  # one request per user, as a device scores
        mine = users == user
        scores[mine] = ranker.score(str(user), titles[mine].tolist())
    rmse = float(np.sqrt(np.mean((scores.astype(np.float64) - ratings) ** 2)))
    # The quality gate, re-checked here: within the tolerance of the SavedModel's RMSE.
    assert rmse - metrics["saved_model_test_rmse"] <= metrics["rmse_tolerance"], (variant_bundle.name, rmse)
    # Within float rounding of what the converter measured on LiteRT (kernels differ between runtimes).
    assert rmse == pytest.approx(metrics["test_rmse"], abs=2e-3)


def test_a_tampered_variant_is_refused(variant_bundle: Path, tmp_path: Path) -> None:
    copy = tmp_path / "bundle"
    shutil.copytree(variant_bundle, copy)
    model = copy / "ranker.tflite"
    data = bytearray(model.read_bytes())
    data[-100] ^= 0x01
    model.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="does not match its manifest"):
        EdgeRanker(copy)


def test_a_bare_variant_finds_a_delegate_that_runs_it(variant_bundle: Path, tmp_path: Path) -> None:
    bare = tmp_path / "ranker.tflite"
    shutil.copy(variant_bundle / "ranker.tflite", bare)
    unverified, verified = EdgeRanker(bare, verify=False), EdgeRanker(variant_bundle)
    titles = verified.titles()[:50]
    np.testing.assert_allclose(unverified.score("42", titles), verified.score("42", titles), atol=1e-5)
