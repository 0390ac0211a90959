"""The converted MovieLens ranker scores as the SavedModel did, without TensorFlow.

Re-scores the requests the integration test scored with the SavedModel
(``edge_reference.json``) in a child process, so the "TensorFlow never
imported" check holds whatever the test process imported.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from tests.edge.conftest import EXPECTED_BACKEND, REFERENCE

SCORE_ALL = """
import json, sys
from edge_runtime import EdgeRanker
reference = json.load(open(sys.argv[1]))
ranker = EdgeRanker(sys.argv[2])
scores = [ranker.score(r["user_id"], r["candidates"]).tolist() for r in reference["requests"]]
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "tf_keras", "keras", "jax", "torch"))
print(json.dumps({"backend": ranker.backend.name, "scores": scores, "heavy_modules": heavy}))
"""


@pytest.fixture(scope="module")
def scored() -> dict:
    # The float32 bundle beside the reference (its recorded path is the machine's that wrote it).
    bundle = REFERENCE.parent / "edge" / "float32"
    result = subprocess.run([sys.executable, "-c", SCORE_ALL, str(REFERENCE), str(bundle)], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_environment_has_no_tensorflow() -> None:
    if not EXPECTED_BACKEND:
        pytest.skip("only meaningful in the edge environments that make test builds")
    assert importlib.util.find_spec("tensorflow") is None


def test_backend_is_the_expected_one(scored: dict) -> None:
    if EXPECTED_BACKEND:
        assert scored["backend"] == EXPECTED_BACKEND


def test_scores_match_the_saved_model(scored: dict, reference: dict) -> None:
    assert len(scored["scores"]) == len(reference["requests"]) == 22
    for request, scores in zip(reference["requests"], scored["scores"]):
        worst = max(abs(a - b) for a, b in zip(scores, request["scores"]))
        assert worst <= 1e-4, (request["user_id"], worst)


def test_tensorflow_is_never_imported(scored: dict) -> None:
    assert scored["heavy_modules"] == []

