"""Scores the demo's bundles the same way on any machine, and compares two machines' scores.

``python parity.py score ARTIFACTS OUT.json`` scores the requests of
``ARTIFACTS/edge_reference.json`` (the integration test's, unknown titles
among them) with every bundle under ``ARTIFACTS/edge/``, through the
installed edge client. ``python parity.py compare REFERENCE.json OTHER.json``
checks that another machine (an emulated Raspberry Pi) agrees with the
reference one: float32 scores within ``FLOAT32_TOLERANCE``, the quantized
variants within ``QUANTIZED_TOLERANCE``, and every known/unknown flag
identical. Needs the edge client only (numpy and an interpreter).
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


def score(artifacts: Path) -> dict:
    """``{variant: {"backend", "requests": [{"user_id", "scores", "user_known", "title_known"}]}}``."""
    requests = json.loads((artifacts / "edge_reference.json").read_text())["requests"]
    results = {}
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
    return results


def compare(reference: dict, other: dict) -> dict[str, float]:
    """Largest score difference per variant.

    Raises:
        AssertionError: A variant is missing, a flag differs, or a difference exceeds its tolerance.
    """
    worst = {}
    assert set(other) == set(reference), (sorted(reference), sorted(other))
    for variant, expected in reference.items():
        diffs = []
        for want, got in zip(expected["requests"], other[variant]["requests"], strict=True):
            assert (got["user_known"], got["title_known"]) == (want["user_known"], want["title_known"]), \
                (variant, want["user_id"])
            diffs.append(float(np.max(np.abs(np.subtract(got["scores"], want["scores"])))))
        worst[variant] = max(diffs)
        tolerance = FLOAT32_TOLERANCE if variant == "float32" else QUANTIZED_TOLERANCE
        assert worst[variant] <= tolerance, (variant, worst[variant], tolerance)
    return worst


if __name__ == "__main__":
    if sys.argv[1] == "score":
        Path(sys.argv[3]).write_text(json.dumps(score(Path(sys.argv[2]))))
    else:
        print(json.dumps(compare(*(json.loads(Path(path).read_text()) for path in sys.argv[2:4]))))
