"""The history bundle the model-quality test converted, in this environment's runtime (LiteRT or tflite-runtime).

On the emulated Pis (``EDGERANK_EMULATED``, set by ``tests/pi/run.sh``) the
whole-test-split RMSE is left to x86, where it takes a second: under qemu it
would take minutes; the reference users are checked everywhere.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from edge_runtime import EdgeRanker
from tests.edge.conftest import ARTIFACTS, EXPECTED_BACKEND

QUALITY = ARTIFACTS.parent / "quality"
BUNDLE = QUALITY / "edge" / "history-int8"

pytestmark = pytest.mark.skipif(not BUNDLE.is_dir() and not EXPECTED_BACKEND,
                                reason=f"{BUNDLE} is missing: tests/integration/test_model_quality.py writes it")


def _split(name: str) -> dict[str, np.ndarray]:
    with np.load(QUALITY / "data" / f"{name}.npz") as split:
        return {key: split[key] for key in ("user_id", "movie_title", "user_rating")}


#: Largest difference allowed from the SavedModel's scores: the int8 weights (the gate's own figure on
#: MovieLens is about 4e-3).
TOLERANCE = 0.02


def test_the_reference_users_score_as_the_saved_model_did() -> None:
    ranker = EdgeRanker(BUNDLE)
    requests = json.loads((QUALITY / "history_reference.json").read_text())["requests"]
    worst = 0.0
    for request in requests:
        scores = ranker.score([tuple(pair) for pair in request["history"]], request["candidates"])
        worst = max(worst, float(np.max(np.abs(scores - np.array(request["scores"])))))
    assert len(requests) == 40 and worst <= TOLERANCE, worst


@pytest.mark.skipif(bool(os.environ.get("EDGERANK_EMULATED")), reason="943 users under qemu: x86 runs it")
def test_warm_users_rmse_through_this_runtime() -> None:
    ranker = EdgeRanker(BUNDLE)
    if EXPECTED_BACKEND:
        assert ranker.backend.name == EXPECTED_BACKEND
    train, test = _split("train"), _split("test")
    histories: dict[str, list[tuple[str, float]]] = {}
    for user, title, rating in zip(train["user_id"].tolist(), train["movie_title"].tolist(),
                                   train["user_rating"].tolist()):
        histories.setdefault(user, []).append((title, float(rating)))
    errors = []
    for user in np.unique(test["user_id"]).tolist():
        rows = test["user_id"] == user
        predicted = ranker.score(histories.get(user, []), test["movie_title"][rows].tolist())
        errors.append(predicted - test["user_rating"][rows])
    rmse = float(np.sqrt(np.mean(np.concatenate(errors) ** 2)))
    assert rmse <= 0.895, rmse
    manifest_rmse = ranker.manifest["metrics"]["test_rmse"]
    assert abs(rmse - manifest_rmse) < 1e-3, (rmse, manifest_rmse)


def test_recommend_on_the_device_leaves_rated_titles_out() -> None:
    ranker = EdgeRanker(BUNDLE)
    history = [("Star Wars (1977)", 5), ("Fargo (1996)", 5), ("Speed (1994)", 2), ("Sped (1994)", 4)]
    ranking = ranker.recommend(history, k=10)
    titles = [candidate.movie_title for candidate in ranking.candidates]
    assert len(titles) == 10 and not {"Star Wars (1977)", "Fargo (1996)", "Speed (1994)"} & set(titles)
    assert ranking.unknown_history == ("Sped (1994)",) and ranking.user_id is None
    assert all(candidate.known for candidate in ranking.candidates)
