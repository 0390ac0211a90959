"""The stronger models on the real MovieLens 100K archive: AutoRec and full-softmax retrieval.

Trains with the command the README gives for them into ``build/quality/``,
converts the ranker to float32 and int8, runs ``edgerank eval`` without the
five folds (they retrain AutoRec five times; the README reports them from a
full run), and checks the figures against the baselines computed in the same
run; a quick bench measures both bundles' order in both runtimes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "build" / "quality"
#: The README's "Model quality" training command, less the data and output flags.
IMPROVED = ["--ranking-model", "autorec", "--retrieval-loss", "full_softmax", "--retrieval-optimizer", "adam",
            "--retrieval-learning-rate", "0.01", "--retrieval-batch-size", "1024", "--retrieval-l2", "0.1",
            "--retrieval-embedding-dim", "64", "--retrieval-epochs", "30", "--retrieval-patience", "4"]


def _edgerank(*args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "edgerank", *args], capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.fixture(scope="module")
def improved() -> Path:
    data = os.environ.get("EDGERANK_DATA")
    if not data:
        pytest.fail("set EDGERANK_DATA to ml-100k.zip (make test does)")
    shutil.rmtree(OUTPUT, ignore_errors=True)
    _edgerank("train", "--data", data, "--output-dir", str(OUTPUT), *IMPROVED)
    for variant, folder in (("none", "float32"), ("int8", "int8")):
        _edgerank("convert", "--saved-model", str(OUTPUT / "ranking"), "--quantize", variant,
                  "--output", str(OUTPUT / "edge" / folder), "--validation-data", str(OUTPUT / "data" / "test.npz"),
                  "--calibration-data", str(OUTPUT / "data" / "train.npz"))
    _edgerank("eval", "--data", data, "--artifacts", str(OUTPUT), "--output-dir", str(OUTPUT / "eval"),
              "--no-folds")
    return OUTPUT


def test_the_int8_ranker_on_device_reaches_rmse_0_90(improved: Path) -> None:
    metrics = json.loads((improved / "metrics.json").read_text())["ranking"]
    manifest = json.loads((improved / "edge" / "int8" / "manifest.json").read_text())
    assert metrics["rmse"] <= 0.90
    assert manifest["metrics"]["test_rmse"] <= 0.90
    assert manifest["architecture"]["model"] == "autorec"


def test_the_autorec_int8_bundle_keeps_the_order_in_both_runtimes(improved: Path) -> None:
    float32, int8 = (json.loads((improved / "edge" / v / "manifest.json").read_text()) for v in ("float32", "int8"))
    assert int8["size_bytes"] <= 0.4 * float32["size_bytes"]
    assert int8["metrics"]["order_users"] >= 200 and int8["metrics"]["order_titles"] == 1664
    runtime = ROOT / ".venv-tflite" / "bin" / "python"
    _edgerank("bench", "--quick", "--saved-model", str(improved / "ranking"), "--data", str(improved / "data" / "test.npz"),
              "--models", str(improved / "edge" / "int8"), "--output-dir", str(improved / "bench"),
              "--tflite-runtime-python", str(runtime), "--candidate-counts", "100")
    contenders = json.loads((improved / "bench" / "results.json").read_text())["contenders"]
    backends = {name for name in contenders if name.startswith("tflite_int8_")}
    assert backends == {"tflite_int8_ai_edge_litert"} | ({"tflite_int8_tflite_runtime"} if runtime.exists() else set())
    for name in backends:
        order = contenders[name]["order"]
        assert order["top_10_overlap"] >= 0.98 and order["pair_agreement"] >= 0.995, (name, order)


def test_both_models_beat_the_baselines_of_the_same_run(improved: Path) -> None:
    test = json.loads((improved / "eval" / "results.json").read_text())["test"]
    int8 = test["edgerank_ranker_int8_tflite"]["rmse"]
    assert int8 <= 0.90 and int8 < test["biased_mf"]["rmse"] < test["biases"]["rmse"]
    retrieval, popularity = test["edgerank_retrieval"], test["popularity"]
    assert retrieval["all_top_100"] > popularity["all_top_100"] + 0.05
    assert retrieval["unseen_top_10"] > popularity["unseen_top_10"] + 0.05
