"""The whole pipeline on the real MovieLens 100K archive (``$EDGERANK_DATA``).

Runs ``edgerank demo`` into ``build/integration/`` and checks the tutorials'
numbers, the artifact layout and the edge scores. It also leaves
``build/integration/edge_reference.json`` (SavedModel scores for a set of
requests) for ``tests/edge``, which re-scores them in the TF-free
environments.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "build" / "integration"

# The first test ratings of the TFRS tutorials' split, as tensorflow-datasets
# (4.9.10, movielens/100k-ratings) yields it with shuffle(100_000, seed=42).
TUTORIAL_TEST_HEAD = [("346", "M*A*S*H (1970)"), ("602", "Volcano (1997)"), ("393", "2001: A Space Odyssey (1968)")]


@pytest.fixture(scope="module")
def demo() -> Path:
    data = os.environ.get("EDGERANK_DATA")
    if not data:
        pytest.fail("set EDGERANK_DATA to ml-100k.zip (make test does)")
    result = subprocess.run(
        [sys.executable, "-m", "edge_runtime.cli", "demo", "--data", data, "--output-dir", str(OUTPUT)],
        capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return OUTPUT


def test_metrics_reach_the_tutorials(demo: Path) -> None:
    metrics = json.loads((demo / "metrics.json").read_text())
    assert metrics["ranking"]["rmse"] <= 1.12
    assert metrics["retrieval"]["top_100"] >= 0.20
    assert metrics["retrieval"]["scann_recall_at_10"] >= 0.95
    assert metrics["data"]["train"] == 80_000 and metrics["data"]["test"] == 20_000
    assert metrics["data"]["users"] == 943 and metrics["data"]["titles"] == 1664


def test_split_is_the_tutorials(demo: Path) -> None:
    with np.load(demo / "data" / "test.npz") as test:
        head = list(zip(test["user_id"][:3].tolist(), test["movie_title"][:3].tolist()))
    assert head == TUTORIAL_TEST_HEAD


def test_artifact_layout(demo: Path) -> None:
    for path in ("ranking/saved_model.pb", "retrieval/saved_model.pb", "edge/ranker.tflite", "edge/manifest.json",
                 "bench/latency.json", "bench/edge.json", "data/test.npz", "metrics.json"):
        assert (demo / path).is_file(), path
    validation = json.loads((demo / "edge" / "manifest.json").read_text())["validation"]
    assert validation["pairs"] == 20_000 and validation["max_abs_diff"] <= 1e-4


def test_bench_reports_percentiles_for_every_contender(demo: Path) -> None:
    bench = json.loads((demo / "bench" / "latency.json").read_text())
    assert bench["request"]["candidates"] == 100 and bench["request"]["threads"] == 1
    assert {"savedmodel_signature", "savedmodel_call"} <= set(bench["contenders"])
    for figures in bench["contenders"].values():
        assert 0 < figures["min_us"] <= figures["p50_us"] <= figures["p95_us"]
        assert figures["max_abs_diff_vs_savedmodel"] <= 1e-4


def test_score_cli_ranks_best_first(demo: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "edge_runtime.cli", "score", "--model", str(demo / "edge" / "ranker.tflite"),
         "--user", "42", "Speed (1994)", "M*A*S*H (1970)"],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    candidates = json.loads(result.stdout)["candidates"]
    assert {c["movie_title"] for c in candidates} == {"Speed (1994)", "M*A*S*H (1970)"}
    assert candidates[0]["score"] >= candidates[1]["score"]


def test_write_edge_reference(demo: Path) -> None:
    """SavedModel scores for the edge suite to reproduce without TensorFlow."""
    import trainer  # noqa: F401
    import tensorflow as tf

    serve = tf.saved_model.load(str(demo / "ranking")).signatures["serving_default"]
    with np.load(demo / "data" / "test.npz") as test:
        users, titles = test["user_id"], test["movie_title"]
    rng = np.random.default_rng(0)
    catalogue = np.unique(titles)
    requests = []
    for user in ["42", *rng.choice(np.unique(users), 20, replace=False).tolist()]:
        candidates = rng.choice(catalogue, 100, replace=False).tolist() + ["Not A Real Movie (2031)"]
        scores = serve(user_id=tf.constant([user] * len(candidates)), movie_title=tf.constant(candidates))["rating"]
        requests.append({"user_id": user, "candidates": candidates, "scores": scores.numpy().tolist()})
    requests.append({"user_id": "no-such-user", "candidates": candidates,
                     "scores": serve(user_id=tf.constant(["no-such-user"] * len(candidates)),
                                     movie_title=tf.constant(candidates))["rating"].numpy().tolist()})
    reference = {"model": str(demo / "edge"), "requests": requests}
    (demo / "edge_reference.json").write_text(json.dumps(reference))
    assert len(requests) == 22
