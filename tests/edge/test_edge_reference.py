"""The converted MovieLens ranker in a TF-free environment.

``make test`` runs this file in two virtual environments without TensorFlow:
one with ``ai-edge-litert``, one with ``tflite-runtime==2.14.0`` and
``numpy<2``. It re-scores the requests that the integration test scored with
the SavedModel (``build/integration/edge_reference.json``) and checks that
TensorFlow is never imported. Scoring runs in a child process, so the check
holds whatever else the test process imported.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REFERENCE = Path(os.environ.get(
    "EDGERANK_EDGE_REFERENCE", Path(__file__).resolve().parents[2] / "build" / "integration" / "edge_reference.json"
))
#: Set by ``make test``: the backend this environment must be running.
EXPECTED_BACKEND = os.environ.get("EDGERANK_EXPECT_BACKEND")

if not REFERENCE.is_file():
    message = f"{REFERENCE} is missing: the integration test (tests/integration) writes it"
    if EXPECTED_BACKEND:
        raise RuntimeError(message)
    pytest.skip(message, allow_module_level=True)

SCORE_ALL = """
import json, sys
from edge_runtime import EdgeRanker
reference = json.load(open(sys.argv[1]))
ranker = EdgeRanker(reference["model"])
scores = [ranker.score(r["user_id"], r["candidates"]).tolist() for r in reference["requests"]]
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "tf_keras", "keras", "jax", "torch"))
print(json.dumps({"backend": ranker.backend.name, "scores": scores, "heavy_modules": heavy}))
"""


@pytest.fixture(scope="module")
def scored() -> dict:
    result = subprocess.run([sys.executable, "-c", SCORE_ALL, str(REFERENCE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_environment_has_no_tensorflow() -> None:
    if not EXPECTED_BACKEND:
        pytest.skip("only meaningful in the edge environments that make test builds")
    assert importlib.util.find_spec("tensorflow") is None


def test_backend_is_the_expected_one(scored: dict) -> None:
    if EXPECTED_BACKEND:
        assert scored["backend"] == EXPECTED_BACKEND


def test_scores_match_the_saved_model(scored: dict) -> None:
    reference = json.loads(REFERENCE.read_text())["requests"]
    assert len(scored["scores"]) == len(reference)
    for request, scores in zip(reference, scored["scores"]):
        worst = max(abs(a - b) for a, b in zip(scores, request["scores"]))
        assert worst <= 1e-4, (request["user_id"], worst)


def test_tensorflow_is_never_imported(scored: dict) -> None:
    assert scored["heavy_modules"] == []


def test_score_cli_prints_json_best_first() -> None:
    model = json.loads(REFERENCE.read_text())["model"]
    result = subprocess.run(
        [sys.executable, "-m", "edge_runtime.cli", "score", "--model", model, "--user", "42",
         "Speed (1994)", "M*A*S*H (1970)"],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    scores = [c["score"] for c in payload["candidates"]]
    assert [c["movie_title"] for c in payload["candidates"]] != [] and scores == sorted(scores, reverse=True)
    if EXPECTED_BACKEND:
        assert payload["backend"].startswith(EXPECTED_BACKEND)
