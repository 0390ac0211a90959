"""The whole pipeline on the real MovieLens 100K archive (``$EDGERANK_DATA``).

Runs ``edgerank demo --preset tutorial`` into ``build/integration/`` and checks the tutorials'
numbers, the artifact layout and the edge scores. It also leaves
``build/integration/edge_reference.json`` (SavedModel scores for a set of
requests) for ``tests/edge``, which re-scores them in the TF-free
environments.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import assert_matches_schema

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "build" / "integration"

# The first test ratings of the TFRS tutorials' split, as tensorflow-datasets
# (4.9.10, movielens/100k-ratings) yields it with shuffle(100_000, seed=42).
VARIANTS = ("float32", "float16", "dynamic", "int8")
TUTORIAL_TEST_HEAD = [("346", "M*A*S*H (1970)"), ("602", "Volcano (1997)"), ("393", "2001: A Space Odyssey (1968)")]


@pytest.fixture(scope="module")
def demo() -> Path:
    data = os.environ.get("EDGERANK_DATA")
    if not data:
        pytest.fail("set EDGERANK_DATA to ml-100k.zip (make test does)")
    shutil.rmtree(OUTPUT, ignore_errors=True)  # a clean run: model version 1
    result = subprocess.run(
        [sys.executable, "-m", "edgerank", "demo", "--preset", "tutorial", "--data", data, "--output-dir", str(OUTPUT)],
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
    version = json.loads((demo / "metrics.json").read_text())["model_version"]
    for path in (f"ranking/{version}/saved_model.pb", f"ranking/{version}/assets.extra/edgerank.json",
                 f"retrieval/{version}/saved_model.pb", "bench/edge.json", "data/test.npz",
                 "data/train.npz", "metrics.json"):
        assert (demo / path).is_file(), path
    for variant in VARIANTS:
        assert sorted(p.name for p in (demo / "edge" / variant).iterdir()) == ["manifest.json", "ranker.tflite",
                                                                              "titles.txt"], variant
        assert_matches_schema(demo / "edge" / variant / "manifest.json", "manifest")
    assert_matches_schema(demo / "handoff" / "42.json", "handoff")
    metrics = json.loads((demo / "edge" / "float32" / "manifest.json").read_text())["metrics"]
    assert metrics["pairs"] == 20_000 and metrics["max_abs_diff"] <= 1e-4


def test_variants_meet_their_size_and_quality_limits(demo: Path) -> None:
    manifests = {v: json.loads((demo / "edge" / v / "manifest.json").read_text()) for v in VARIANTS}
    for variant, manifest in manifests.items():
        metrics = manifest["metrics"]
        assert metrics["test_rmse"] - metrics["saved_model_test_rmse"] <= 0.01, variant
        minimum = tuple(map(int, manifest["runtime"]["min_runtime_version"].split(".")))
        assert minimum <= (2, 14, 0), variant
        assert manifest["titles"]["count"] == 1664
        # The order gate, over at least 200 users x the whole catalogue, against the float32 SavedModel.
        assert metrics["order_users"] >= 200 and metrics["order_titles"] == 1664, variant
        assert metrics["top_10_overlap"] >= 0.98 and metrics["pair_agreement"] >= 0.995, variant
        assert metrics["distinct_scores"] >= 1600, variant  # no collapse into a few levels
        assert metrics["ndcg_at_10"] == pytest.approx(metrics["saved_model_ndcg_at_10"], abs=0.01), variant
    assert manifests["int8"]["size_bytes"] <= 0.4 * manifests["float32"]["size_bytes"]
    assert manifests["dynamic"]["size_bytes"] <= 200 * 1024
    assert manifests["float16"]["size_bytes"] < manifests["float32"]["size_bytes"] * 0.6


def _check_matrix(report: dict, counts: list[int], threads: list[int]) -> None:
    contenders = report["contenders"]
    assert {"savedmodel_call", "savedmodel_signature"} | {
        f"tflite_{variant}_{backend}" for variant in VARIANTS for backend in ("ai_edge_litert", "tflite_runtime")
    } <= set(contenders)
    for name, entry in contenders.items():
        assert entry["size_bytes"] > 0 and entry["cold_start_s"] > 0 and entry["peak_rss_mb"] > 0, name
        assert abs(entry["test_rmse"] - contenders["savedmodel_signature"]["test_rmse"]) <= (
            1e-4 if "float32" in name else 0.01), name
        assert sorted(entry["threads"]) == [str(t) for t in threads], name
        if name.startswith("tflite_"):  # the order, measured in each runtime against the SavedModel
            assert entry["order"]["top_10_overlap"] >= 0.98 and entry["order"]["pair_agreement"] >= 0.995, name
        for cells in entry["threads"].values():
            assert sorted(cells, key=int) == [str(n) for n in counts], name
            for cell in cells.values():
                assert 0 < cell["min_us"] <= cell["p50_us"] <= cell["p95_us"] <= cell["p99_us"], name
                assert cell["calls"] >= 100 and cell["gflops_per_s"] > 0 and cell["candidates_per_s"] > 0
                assert cell["p50_vs_savedmodel_signature"] > 0


def _bench(demo: Path, output: Path, *flags: str) -> dict:
    """``edgerank bench`` of the demo's SavedModel and variants (in both runtimes) into ``output``."""
    result = subprocess.run(
        [sys.executable, "-m", "edgerank", "bench", "--saved-model", str(demo / "ranking"),
         "--models", *(str(demo / "edge" / v) for v in VARIANTS), "--data", str(demo / "data" / "test.npz"),
         "--output-dir", str(output), *flags],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads((output / "results.json").read_text())


def test_the_quick_bench_matrix(demo: Path, tmp_path: Path) -> None:
    """What the demo prints to run next: ``--quick``, one thread count, every file written."""
    _check_matrix(_bench(demo, tmp_path, "--quick"), [1, 10, 100, 1000], [1])
    table = (tmp_path / "results.md").read_text()
    assert table.count("\n| ") == len(json.loads((tmp_path / "results.json").read_text())["contenders"])
    assert "Machine:" in table  # one row each, and the machine measured
    for plot in ("latency.png", "size_rmse.png"):
        assert (tmp_path / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (demo / "bench" / "edge.json").stat().st_size > 0  # the demo's own bench: the device bundle


def test_bench_runs_every_thread_count(demo: Path, tmp_path: Path) -> None:
    """The matrix past ``--quick``: both thread counts (with short cells, to keep the test short)."""
    report = _bench(demo, tmp_path, "--warmup", "10", "--seconds-per-cell", "0.05", "--min-calls", "100",
                    "--max-calls", "300")
    _check_matrix(report, [1, 10, 100, 1000], [1, 2])


def test_score_cli_ranks_best_first(demo: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "edgerank", "score", "--json", "--model", str(demo / "edge" / "int8" / "ranker.tflite"),
         "--user", "42", "Speed (1994)", "M*A*S*H (1970)"],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    candidates = json.loads(result.stdout)["candidates"]
    assert {c["movie_title"] for c in candidates} == {"Speed (1994)", "M*A*S*H (1970)"}
    assert candidates[0]["score"] >= candidates[1]["score"]


def test_retrieval_meets_its_figures(demo: Path, tmp_path: Path) -> None:
    metrics = json.loads((demo / "metrics.json").read_text())["retrieval"]
    assert metrics["index"]["kind"] == "scann" and metrics["scann_recall_at_10"] >= 0.99
    result = subprocess.run([sys.executable, "-m", "edgerank", "bench", "retrieval", "--movielens",
                             str(demo / "retrieval"), "--output-dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "results.json").read_text())
    assert set(report["corpora"]) == {"synthetic_1682", "synthetic_100000", "synthetic_1000000", "movielens"}
    for name, corpus in report["corpora"].items():
        derived = next(point for point in corpus["scann"] if point["derived"])
        assert derived["recall_at_10"] >= 0.99 and derived["recall_at_100"] >= 0.99, name
        assert set(corpus["brute_force"]) == {"numpy_argpartition", "numpy_argsort"}
    assert report["corpora"]["synthetic_1000000"]["settings"]["num_leaves"] == 2000
    assert (tmp_path / "recall_latency.png").read_bytes()[:4] == b"\x89PNG"


def test_two_stage_recommend(demo: Path) -> None:
    handoff = json.loads((demo / "handoff" / "42.json").read_text())
    with np.load(demo / "data" / "train.npz") as train:
        rated = set(train["movie_title"][train["user_id"] == "42"].tolist())
    titles = [c["movie_title"] for c in handoff["candidates"]]
    assert len(titles) == 300 and not set(titles) & rated and handoff["retrieval"]["index"] == "scann"
    result = subprocess.run(
        [sys.executable, "-m", "edgerank", "recommend", "--json", "--user", "42", "--k", "10",
         "--model", str(demo / "edge" / "int8"), "--retrieval", str(demo / "retrieval")],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    picked = json.loads(result.stdout)["recommendations"]
    assert len(picked) == 10 and {p["movie_title"] for p in picked} <= set(titles)
    assert [p["score"] for p in picked] == sorted((p["score"] for p in picked), reverse=True)


def test_eval_table_has_every_baseline_and_the_folds(demo: Path) -> None:
    report = json.loads((demo / "eval" / "results.json").read_text())
    test = report["test"]
    # The classic baselines land where public libraries put them on this split.
    assert test["global_mean"]["rmse"] == pytest.approx(1.125, abs=0.01)
    assert test["biases"]["rmse"] == pytest.approx(0.945, abs=0.01)
    assert test["biased_mf"]["rmse"] < test["biases"]["rmse"]
    assert test["popularity"]["all_top_100"] == pytest.approx(0.30, abs=0.01)
    assert test["popularity"]["unseen_top_10"] == pytest.approx(0.088, abs=0.01)
    assert test["implicit_als"]["all_top_100"] == pytest.approx(0.40, abs=0.02)
    assert test["edgerank_retrieval"]["all_top_100"] == pytest.approx(
        json.loads((demo / "metrics.json").read_text())["retrieval"]["top_100"], abs=0.005)
    assert all(len(runs) == 5 for runs in report["per_fold"].values())
    assert (demo / "eval" / "results.md").read_text().count("\n| ") == len(test)


def test_write_edge_reference(demo: Path) -> None:
    """SavedModel scores for the edge suite to reproduce without TensorFlow."""
    import trainer  # noqa: F401
    import tensorflow as tf

    from trainer import serving

    serve = tf.saved_model.load(str(serving.resolve(demo / "ranking"))).signatures["serving_default"]
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
    reference = {"model": str(demo / "edge" / "float32"), "requests": requests}
    (demo / "edge_reference.json").write_text(json.dumps(reference))
    assert len(requests) == 22
