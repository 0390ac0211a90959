"""The whole pipeline on the real MovieLens 100K archive (``$EDGERANK_DATA``), tutorial preset.

Reads the session's ``edgerank demo --preset tutorial`` run (``tutorial_run``, ``conftest.py``) in
``build/integration/`` and checks the tutorials' numbers, the artifact layout, the bench matrix,
retrieval, two-stage recommend, eval and ``edge_reference.json``, which ``tests/edge`` re-scores in the
TF-free environments.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import assert_matches_schema
from tests.integration.conftest import edgerank

pytestmark = pytest.mark.slow


# The first test ratings of the TFRS tutorials' split, as tensorflow-datasets
# (4.9.10, movielens/100k-ratings) yields it with shuffle(100_000, seed=42).
VARIANTS = ("float32", "float16", "dynamic", "int8")
TUTORIAL_TEST_HEAD = [("346", "M*A*S*H (1970)"), ("602", "Volcano (1997)"), ("393", "2001: A Space Odyssey (1968)")]


def test_metrics_reach_the_tutorials(tutorial_run: Path) -> None:
    metrics = json.loads((tutorial_run / "metrics.json").read_text())
    assert metrics["ranking"]["rmse"] <= 1.12
    assert metrics["retrieval"]["top_100"] >= 0.20
    assert metrics["retrieval"]["scann_recall_at_10"] >= 0.95
    assert metrics["data"]["train"] == 80_000 and metrics["data"]["test"] == 20_000
    assert metrics["data"]["users"] == 943 and metrics["data"]["titles"] == 1664


def test_split_is_the_tutorials(tutorial_run: Path) -> None:
    with np.load(tutorial_run / "data" / "test.npz") as test:
        head = list(zip(test["user_id"][:3].tolist(), test["movie_title"][:3].tolist()))
    assert head == TUTORIAL_TEST_HEAD


def test_artifact_layout(tutorial_run: Path) -> None:
    version = json.loads((tutorial_run / "metrics.json").read_text())["model_version"]
    for path in (f"ranking/{version}/saved_model.pb", f"ranking/{version}/assets.extra/edgerank.json",
                 f"retrieval/{version}/saved_model.pb", "bench/edge.json", "data/test.npz",
                 "data/train.npz", "metrics.json"):
        assert (tutorial_run / path).is_file(), path
    for variant in VARIANTS:
        assert sorted(p.name for p in (tutorial_run / "edge" / variant).iterdir()) == ["manifest.json", "ranker.tflite",
                                                                              "titles.txt"], variant
        assert_matches_schema(tutorial_run / "edge" / variant / "manifest.json", "manifest")
    assert_matches_schema(tutorial_run / "handoff" / "42.json", "handoff")
    metrics = json.loads((tutorial_run / "edge" / "float32" / "manifest.json").read_text())["metrics"]
    assert metrics["pairs"] == 20_000 and metrics["max_abs_diff"] <= 1e-4


def test_variants_meet_their_size_and_quality_limits(tutorial_run: Path) -> None:
    manifests = {v: json.loads((tutorial_run / "edge" / v / "manifest.json").read_text()) for v in VARIANTS}
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


@pytest.fixture(scope="module")
def bench_matrix(tutorial_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``edgerank bench`` of the run's SavedModel and every variant, in both runtimes, at both thread counts
    (with short cells, to keep the test short; ``--quick`` is run by test_model_quality); returns its folder."""
    output = tmp_path_factory.mktemp("bench")
    edgerank("bench", "--saved-model", str(tutorial_run / "ranking"),
             "--models", *(str(tutorial_run / "edge" / v) for v in VARIANTS),
             "--data", str(tutorial_run / "data" / "test.npz"), "--output-dir", str(output),
             "--warmup", "10", "--seconds-per-cell", "0.05", "--min-calls", "100", "--max-calls", "300", timeout=600)
    return output


def test_the_bench_matrix_writes_its_table_and_plots(tutorial_run: Path, bench_matrix: Path) -> None:
    table = (bench_matrix / "results.md").read_text()
    assert table.count("\n| ") == 2 * len(json.loads((bench_matrix / "results.json").read_text())["contenders"])
    assert "Machine:" in table  # one row per contender and thread count, and the machine measured
    for plot in ("latency.png", "size_rmse.png"):
        assert (bench_matrix / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tutorial_run / "bench" / "edge.json").stat().st_size > 0  # the demo's own bench: the device bundle


def test_bench_runs_every_thread_count(bench_matrix: Path) -> None:
    _check_matrix(json.loads((bench_matrix / "results.json").read_text()), [1, 10, 100, 1000], [1, 2])


def test_score_cli_ranks_best_first(tutorial_run: Path) -> None:
    result = edgerank("score", "--json", "--model", str(tutorial_run / "edge" / "int8" / "ranker.tflite"),
                      "--user", "42", "Speed (1994)", "M*A*S*H (1970)", timeout=300)
    candidates = json.loads(result.stdout)["candidates"]
    assert {c["movie_title"] for c in candidates} == {"Speed (1994)", "M*A*S*H (1970)"}
    assert candidates[0]["score"] >= candidates[1]["score"]


def test_retrieval_meets_its_figures(tutorial_run: Path, tmp_path: Path) -> None:
    metrics = json.loads((tutorial_run / "metrics.json").read_text())["retrieval"]
    assert metrics["index"]["kind"] == "scann" and metrics["scann_recall_at_10"] >= 0.99
    edgerank("bench", "retrieval", "--movielens", str(tutorial_run / "retrieval"), "--output-dir", str(tmp_path),
             timeout=600)
    report = json.loads((tmp_path / "results.json").read_text())
    assert set(report["corpora"]) == {"synthetic_1682", "synthetic_100000", "synthetic_1000000", "movielens"}
    for name, corpus in report["corpora"].items():
        derived = next(point for point in corpus["scann"] if point["derived"])
        assert derived["recall_at_10"] >= 0.99 and derived["recall_at_100"] >= 0.99, name
        assert set(corpus["brute_force"]) == {"numpy_argpartition", "numpy_argsort"}
    assert report["corpora"]["synthetic_1000000"]["settings"]["num_leaves"] == 2000
    assert (tmp_path / "recall_latency.png").read_bytes()[:4] == b"\x89PNG"


def test_two_stage_recommend(tutorial_run: Path) -> None:
    handoff = json.loads((tutorial_run / "handoff" / "42.json").read_text())
    with np.load(tutorial_run / "data" / "train.npz") as train:
        rated = set(train["movie_title"][train["user_id"] == "42"].tolist())
    titles = [c["movie_title"] for c in handoff["candidates"]]
    assert len(titles) == 300 and not set(titles) & rated and handoff["retrieval"]["index"] == "scann"
    result = edgerank("recommend", "--json", "--user", "42", "--k", "10",
                      "--model", str(tutorial_run / "edge" / "int8"), "--retrieval", str(tutorial_run / "retrieval"),
                      timeout=300)
    picked = json.loads(result.stdout)["recommendations"]
    assert len(picked) == 10 and {p["movie_title"] for p in picked} <= set(titles)
    assert [p["score"] for p in picked] == sorted((p["score"] for p in picked), reverse=True)


def test_eval_table_has_every_baseline_and_the_folds(tutorial_run: Path) -> None:
    report = json.loads((tutorial_run / "eval" / "results.json").read_text())
    test = report["test"]
    # The classic baselines land where public libraries put them on this split.
    assert test["global_mean"]["rmse"] == pytest.approx(1.125, abs=0.01)
    assert test["biases"]["rmse"] == pytest.approx(0.945, abs=0.01)
    assert test["biased_mf"]["rmse"] < test["biases"]["rmse"]
    assert test["popularity"]["all_top_100"] == pytest.approx(0.30, abs=0.01)
    assert test["popularity"]["unseen_top_10"] == pytest.approx(0.088, abs=0.01)
    assert test["implicit_als"]["all_top_100"] == pytest.approx(0.40, abs=0.02)
    assert test["edgerank_retrieval"]["all_top_100"] == pytest.approx(
        json.loads((tutorial_run / "metrics.json").read_text())["retrieval"]["top_100"], abs=0.005)
    assert all(len(runs) == 5 for runs in report["per_fold"].values())
    table = (tutorial_run / "eval" / "results.md").read_text()
    models, by_history = table.split("Test RMSE by the user's number of training ratings\n\n")
    assert models.count("\n| ") == len(test)
    # Every rating model by its users' training ratings: the buckets' pairs are the whole test split.
    rating_models = [name for name, figures in test.items() if "rmse" in figures]
    assert by_history.count("\n| ") == len(rating_models)
    for name in rating_models:
        buckets = test[name]["rmse_by_history"]
        assert sum(bucket["pairs"] for bucket in buckets.values()) == 20_000, name
        assert min(b["rmse"] for b in buckets.values()) <= test[name]["rmse"] <= max(b["rmse"] for b in buckets.values())


def test_the_edge_reference_scores_known_and_unknown_users_and_titles(tutorial_run: Path) -> None:
    """The SavedModel scores ``tests/edge`` reproduces without TensorFlow (conftest writes them)."""
    reference = json.loads((tutorial_run / "edge_reference.json").read_text())
    requests = reference["requests"]
    assert len(requests) == 22 and requests[0]["user_id"] == "42" and requests[-1]["user_id"] == "no-such-user"
    assert Path(reference["model"]) == tutorial_run / "edge" / "float32"
    for request in requests:
        assert len(request["candidates"]) == len(request["scores"]) == 101, request["user_id"]
        assert request["candidates"][-1] == "Not A Real Movie (2031)"
        assert np.isfinite(request["scores"]).all(), request["user_id"]
