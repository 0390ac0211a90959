"""The default models on the real MovieLens 100K archive: AutoRec, the history model, its retrieval on the server.

Reads the session's default run (``default_run``, ``conftest.py``) in ``build/quality/``: ``edgerank
demo`` with its defaults (the ``best`` preset) trained, converted the id ranker's variants and the
int8 history bundle, ran ``edgerank eval`` on the seed-42 split, scored and recommended from a
history on the device and benched the history bundle; then ``edgerank eval`` again with the new
users (without the five folds, which would retrain AutoRec five times) and the float32 history
bundle. The figures are checked against the baselines computed in the same run; a quick bench
matrix measures the int8 bundle's order and times the history bundle, in both runtimes.
``tests/edge/test_history_bundle.py`` then scores the history bundle in both runtimes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import assert_matches_schema
from tests.integration.conftest import HISTORY_REFERENCE_USERS, ROOT, edgerank

pytestmark = pytest.mark.slow

#: The classic baselines ``edgerank eval`` reports on the test split (keys of its ``test``).
RATING_BASELINES = ("global_mean", "biases", "biased_mf")
RETRIEVAL_BASELINES = ("popularity", "implicit_als")


def test_the_int8_ranker_on_device_reaches_rmse_0_90(default_run: Path) -> None:
    metrics = json.loads((default_run / "metrics.json").read_text())["ranking"]
    manifest = json.loads((default_run / "edge" / "int8" / "manifest.json").read_text())
    assert metrics["rmse"] <= 0.90
    assert manifest["metrics"]["test_rmse"] <= 0.90
    assert manifest["architecture"]["model"] == "autorec"


#: The tflite-runtime environment ``make test`` builds; the quick bench runs each bundle there too.
TFLITE_RUNTIME = ROOT / ".venv-tflite" / "bin" / "python"


@pytest.fixture(scope="module")
def quick_bench(default_run: Path) -> dict:
    """``edgerank bench --quick`` of the int8 id bundle and the int8 history bundle, in both runtimes."""
    run = default_run
    edgerank("bench", "--quick", "--saved-model", str(run / "ranking"), "--data", str(run / "data" / "test.npz"),
             "--models", str(run / "edge" / "int8"), str(run / "edge" / "history-int8"),
             "--output-dir", str(run / "bench-quick"), "--tflite-runtime-python", str(TFLITE_RUNTIME),
             "--candidate-counts", "100")
    return json.loads((run / "bench-quick" / "results.json").read_text())


def test_the_autorec_int8_bundle_keeps_the_order_in_both_runtimes(default_run: Path, quick_bench: dict) -> None:
    float32, int8 = (json.loads((default_run / "edge" / v / "manifest.json").read_text())
                     for v in ("float32", "int8"))
    assert int8["size_bytes"] <= 0.4 * float32["size_bytes"]
    assert int8["metrics"]["order_users"] >= 200 and int8["metrics"]["order_titles"] == 1664
    contenders = quick_bench["contenders"]
    backends = {name for name in contenders if name.startswith("tflite_int8_")}
    assert backends == {"tflite_int8_ai_edge_litert"} | ({"tflite_int8_tflite_runtime"} if TFLITE_RUNTIME.exists()
                                                         else set())
    for name in backends:
        order = contenders[name]["order"]
        assert order["top_10_overlap"] >= 0.98 and order["pair_agreement"] >= 0.995, (name, order)


def assert_beats_every_baseline(test: dict, rating: str, retrieval: str) -> None:
    """A row of the demo's summary, ``rating`` / ``retrieval`` (keys of eval's ``test``), beats every baseline in
    each column: test RMSE, top-100 over all titles, top-10 of the unseen ones."""
    assert test[rating]["rmse"] < min(test[name]["rmse"] for name in RATING_BASELINES), (rating, test)
    for column in ("all_top_100", "unseen_top_10"):
        assert test[retrieval][column] > max(test[name][column] for name in RETRIEVAL_BASELINES), (column, test)


def test_the_server_models_beat_every_baseline_of_the_same_run(default_run: Path) -> None:
    trained = json.loads((default_run / "metrics.json").read_text())
    test = json.loads((default_run / "eval" / "results.json").read_text())["test"]
    int8 = test["edgerank_ranker_int8_tflite"]["rmse"]
    assert int8 <= 0.90
    # The server retrieves with the history retrieval, behind a ScaNN index as good as exact search.
    assert trained["config"]["retrieval"]["model"] == "history"
    assert trained["retrieval"]["index"]["kind"] == "scann" and trained["retrieval"]["scann_recall_at_10"] >= 0.99
    assert_beats_every_baseline(test, "edgerank_ranker_int8_tflite", "edgerank_retrieval")


def test_the_history_model_meets_its_targets_with_no_user_in_the_bundle(default_run: Path) -> None:
    trained = json.loads((default_run / "metrics.json").read_text())
    test = json.loads((default_run / "eval" / "results.json").read_text())["test"]
    manifest = assert_matches_schema(default_run / "edge" / "history-int8" / "manifest.json", "manifest")
    assert manifest["kind"] == "history" and "user_vocabulary" not in manifest["architecture"]
    assert "user_id" not in {name for s in manifest["signatures"].values() for name in s["inputs"]}
    assert trained["history"]["rmse"] <= 0.895 and manifest["metrics"]["test_rmse"] <= 0.895
    assert test["edgerank_history_int8_tflite"]["rmse"] <= 0.895
    retrieval = test["edgerank_history_retrieval_int8_tflite"]
    assert retrieval["all_top_100"] >= 0.40 and retrieval["unseen_top_10"] >= 0.16, retrieval
    assert_beats_every_baseline(test, "edgerank_history_int8_tflite", "edgerank_history_retrieval_int8_tflite")
    assert manifest["metrics"]["top_10_overlap"] >= 0.98 and manifest["metrics"]["pair_agreement"] >= 0.995


def test_new_users_beat_the_item_biases_from_five_ratings(default_run: Path) -> None:
    curve = json.loads((default_run / "eval" / "results.json").read_text())["new_users"]
    assert curve["held_out_users"] == 94
    for size in ("5", "10", "20", "50"):
        assert curve["rmse"]["history_model"][size] < curve["rmse"]["item_biases"][size], (size, curve["rmse"])
    assert (default_run / "eval" / "new_users.png").read_bytes()[:4] == b"\x89PNG"


def test_the_demo_recommends_from_a_history_on_the_device(default_run: Path) -> None:
    log = (default_run / "demo.log").read_text()
    assert "no user id" in log and "no server" in log
    float32 = json.loads((default_run / "edge" / "history-float32" / "manifest.json").read_text())["metrics"]
    assert float32["max_abs_diff"] <= float32["tolerance"] and float32["top_10_overlap"] >= 0.99
    bench = json.loads((default_run / "bench" / "edge.json").read_text())
    assert bench["kind"] == "history" and {"personalize", "score", "recommend"} <= set(bench)
    assert not bench["cold_start"]["tensorflow_imported"]


def test_the_bench_matrix_times_the_history_model_as_a_device_calls_it(default_run: Path, quick_bench: dict) -> None:
    report = quick_bench
    entry = report["history"]["tflite_history-int8_ai_edge_litert"]
    assert entry["request"]["history"] == 100 and entry["request"]["candidates"] == 100
    assert entry["request"]["catalogue"] == 1664 and entry["cold_start_s"] > 0
    assert list(entry["threads"]) == ["1"]  # --quick
    for calls in entry["threads"].values():
        assert sorted(calls) == ["personalize", "recommend", "recommend_two_stage", "score"]
        for timing in calls.values():
            assert 0 < timing["min_us"] <= timing["p50_us"] <= timing["p99_us"]
    assert "tflite_history-int8_ai_edge_litert" not in report["contenders"]
    assert "personalize µs (100 ratings)" in (default_run / "bench-quick" / "results.md").read_text()


def test_the_history_reference_holds_each_users_history_and_test_titles(default_run: Path) -> None:
    """The SavedModel scores ``tests/edge`` and the emulated Pis reproduce without TensorFlow (conftest writes them)."""
    import numpy as np

    requests = json.loads((default_run / "history_reference.json").read_text())["requests"]
    with np.load(default_run / "data" / "test.npz") as test:
        test_titles = {user: set(test["movie_title"][test["user_id"] == user].tolist())
                       for user in {request["user_id"] for request in requests}}
    assert len(requests) == HISTORY_REFERENCE_USERS
    for request in requests:
        assert request["history"] and len(request["scores"]) == len(request["candidates"]) > 0, request["user_id"]
        assert set(request["candidates"]) == test_titles[request["user_id"]], request["user_id"]
        assert np.isfinite(request["scores"]).all(), request["user_id"]
