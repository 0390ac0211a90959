"""Scores the demo's bundles the same way on any machine, and compares two machines' scores.

``python parity.py score ARTIFACTS QUALITY OUT.json`` scores, through the
installed edge client, the requests of ``ARTIFACTS/edge_reference.json`` (the
tutorial integration test's, unknown titles among them) with every id bundle
under ``ARTIFACTS/edge/``, and the histories of ``QUALITY/history_reference.json``
(the model-quality test's) with every history bundle under ``QUALITY/edge/``:
``score`` their candidates and ``recommend`` the top 10, which runs the bundle's
top-k op (the op that once crashed LiteRT on aarch64 only).
``python parity.py compare REFERENCE.json OTHER.json`` checks that another
machine (an emulated Raspberry Pi) agrees with the reference one: float32
scores within ``FLOAT32_TOLERANCE``, the quantized variants within
``QUANTIZED_TOLERANCE``, the history bundles within ``HISTORY_TOLERANCE``,
every known/unknown flag identical and the same recommendations. Needs the
edge client only (numpy and an interpreter).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from edge_runtime import EdgeRanker

#: Largest score difference accepted for the float32 bundle between two machines.
FLOAT32_TOLERANCE = 1e-4
#: For the other variants: a dynamic-range model's activations are quantized at run time, so
#: kernels of another architecture may round one step apart (about 0.015 of a star).
QUANTIZED_TOLERANCE = 0.02


#: For the history bundles, float32 or int8 weights alike: ``personalize`` solves the user's ridge problem by
#: conjugate gradients in float32, whose sums another architecture's kernels order differently (seen: up to
#: 1.4e-4 of a star); the converter allows 2e-3 between the float32 bundle and its SavedModel.
HISTORY_TOLERANCE = 1e-3
#: Recommendations per history compared between machines.
RECOMMENDED = 10


def score(artifacts: Path, quality: Path) -> dict:
    """``{bundle: {"backend", "requests": [{"user_id", "scores", …}]}}``, the id bundles then the history ones.

    An id bundle's request also has ``user_known`` and ``title_known``; a history bundle's has the
    ``recommended`` titles and their ``recommended_scores``.
    """
    results = {}
    requests = json.loads((artifacts / "edge_reference.json").read_text())["requests"]
    for bundle in sorted((artifacts / "edge").iterdir()):
        ranker = EdgeRanker(bundle)
        scored = []
        for request in requests:
            ranking = ranker.rank(request["user_id"], request["candidates"])
            known = {c.movie_title: c.known for c in ranking.candidates}
            scored.append({"user_id": request["user_id"],
                           "scores": ranker.score(request["user_id"], request["candidates"]).tolist(),
                           "user_known": ranking.user_known,
                           "title_known": [known[title] for title in request["candidates"]]})
        results[bundle.name] = {"backend": f"{ranker.backend.name} {ranker.backend.version}", "requests": scored}
    histories = json.loads((quality / "history_reference.json").read_text())["requests"]
    for bundle in sorted((quality / "edge").glob("history-*")):
        ranker = EdgeRanker(bundle)
        scored = []
        for request in histories:
            state = ranker.personalize([tuple(pair) for pair in request["history"]])
            recommended = ranker.recommend(state, k=RECOMMENDED).candidates
            scored.append({"user_id": request["user_id"],
                           "scores": ranker.score(state, request["candidates"]).tolist(),
                           "recommended": [c.movie_title for c in recommended],
                           "recommended_scores": [c.score for c in recommended]})
        results[bundle.name] = {"backend": f"{ranker.backend.name} {ranker.backend.version}", "requests": scored}
    return results


def compare(reference: dict, other: dict) -> dict[str, float]:
    """Largest score difference per variant.

    Raises:
        AssertionError: A variant is missing, a flag differs, or a difference exceeds its tolerance.
    """
    worst = {}
    assert set(other) == set(reference), (sorted(reference), sorted(other))
    for variant, expected in reference.items():
        tolerance = (HISTORY_TOLERANCE if variant.startswith("history-") else
                     FLOAT32_TOLERANCE if variant == "float32" else QUANTIZED_TOLERANCE)
        diffs = []
        for want, got in zip(expected["requests"], other[variant]["requests"], strict=True):
            flags = ("user_known", "title_known")  # id bundles only
            assert [got.get(f) for f in flags] == [want.get(f) for f in flags], (variant, want["user_id"])
            diffs.append(float(np.max(np.abs(np.subtract(got["scores"], want["scores"])), initial=0.0)))
            if "recommended" in want:
                # The same best titles, best first: titles may trade places only where their scores tie
                # within the tolerance.
                assert len(got["recommended"]) == len(want["recommended"]) == RECOMMENDED, (variant, want["user_id"])
                diffs.append(float(np.max(np.abs(np.subtract(got["recommended_scores"], want["recommended_scores"])))))
                for title, score in zip(got["recommended"], got["recommended_scores"]):
                    if title not in want["recommended"]:
                        assert score <= min(want["recommended_scores"]) + tolerance, (variant, want["user_id"], title)
        worst[variant] = max(diffs)
        assert worst[variant] <= tolerance, (variant, worst[variant], tolerance)
    return worst

if __name__ == "__main__":
    if sys.argv[1] == "score":
        Path(sys.argv[4]).write_text(json.dumps(score(Path(sys.argv[2]), Path(sys.argv[3]))))
    else:
        print(json.dumps(compare(*(json.loads(Path(path).read_text()) for path in sys.argv[2:4]))))
