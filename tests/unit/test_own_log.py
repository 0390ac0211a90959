"""A log of its own: ratings on a 0.5-4 scale in a semicolon CSV with renamed columns, through the whole CLI.

Trained with the flags alone (no code for this layout), converted to the int8 history bundle, and scored
on the device, which refuses a rating outside the scale it learned.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from interactions import holdout

#: The generated log: users, items and ratings, from a planted rank-4 model plus noise.
USERS, ITEMS, RATINGS = 150, 80, 4000


def _edgerank(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgerank", *args], capture_output=True, text=True, input=stdin,
                          timeout=600)


def write_half_star_log(path: Path, seed: int = 0) -> Path:
    """``uid;iid;stars;ts`` rows, ratings 0.5 to 4 in half stars."""
    rng = np.random.default_rng(seed)
    users, items = rng.normal(size=(USERS, 4)), rng.normal(size=(ITEMS, 4))
    cells = rng.choice(USERS * ITEMS, RATINGS, replace=False)
    rows, columns = cells // ITEMS, cells % ITEMS
    stars = np.clip(np.round((2.25 + 0.6 * (users[rows] * items[columns]).sum(1) + rng.normal(0, 0.3, RATINGS)) * 2)
                    / 2, 0.5, 4.0)
    times = rng.integers(1_600_000_000, 1_700_000_000, RATINGS)
    path.write_text("uid;iid;stars;ts\n" + "".join(f"user{u};item-{i};{s:g};{t}\n"
                                                   for u, i, s, t in zip(rows, columns, stars, times)))
    return path


@pytest.fixture(scope="module")
def half_star_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("half-stars")
    log = write_half_star_log(root / "ratings.csv")
    artifacts = root / "artifacts"
    trained = _edgerank("train", "--data", str(log), "--user-column", "uid", "--item-column", "iid",
                        "--rating-column", "stars", "--time-column", "ts", "--output-dir", str(artifacts),
                        "--ranking-autorec-max-epochs", "60", "--history-max-epochs", "5")
    assert trained.returncode == 0, trained.stderr[-3000:]
    bundle = artifacts / "edge" / "history-int8"
    converted = _edgerank("convert", "--saved-model", str(artifacts / "history"), "--quantize", "int8", "--output",
                          str(bundle), "--validation-data", str(artifacts / "data" / "test.npz"),
                          "--history-data", str(artifacts / "data" / "train.npz"))
    assert converted.returncode == 0, converted.stderr[-3000:]
    return bundle


def test_a_renamed_semicolon_log_on_another_scale_trains_and_scores(half_star_bundle: Path) -> None:
    manifest = json.loads((half_star_bundle / "manifest.json").read_text())
    schema = manifest["schema"]
    assert (schema["delimiter"], schema["value_column"], schema["feedback"]) == (";", "stars", "explicit")
    assert schema["value_range"] == [0.5, 4.0] and manifest["architecture"]["rating_range"] == [0.5, 4.0]
    assert schema["interactions"] == RATINGS and schema["users"] == USERS
    scored = _edgerank("score", "--model", str(half_star_bundle), "--history", "-", "--json", "item-3", "item-4",
                       stdin="item-1,3.5\nitem-2,0.5\n")
    assert scored.returncode == 0, scored.stderr
    ratings = [candidate["score"] for candidate in json.loads(scored.stdout)["candidates"]]
    assert len(ratings) == 2 and all(0.5 <= rating <= 4.0 for rating in ratings)


def test_the_device_refuses_a_rating_outside_the_scale_it_learned(half_star_bundle: Path) -> None:
    refused = _edgerank("score", "--model", str(half_star_bundle), "--history", "-", "item-3", stdin="item-1,4.5\n")
    assert refused.returncode == 2
    assert refused.stderr.strip() == "edgerank score: standard input line 1: rating '4.5' is outside the model's " \
                                     "scale 0.5-4"


def test_eval_compares_the_bundle_with_the_baselines_on_the_training_split(half_star_bundle: Path) -> None:
    artifacts = half_star_bundle.parents[1]
    evaluated = _edgerank("eval", "--artifacts", str(artifacts), "--output-dir", str(artifacts / "eval"), "--json")
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    report = json.loads(evaluated.stdout)
    assert set(report["test"]) == {"popularity", "implicit ALS", "EASE", "history model, int8 on the device"}
    device = report["test"]["history model, int8 on the device"]
    # Ratings: the bundle's RMSE on the device is the SavedModel's (metrics.json, the same split), within int8's error.
    trained = json.loads((artifacts / "metrics.json").read_text())
    assert device["rmse"] == pytest.approx(trained["history"]["rmse"], abs=0.01) and device["training_mean_rmse"] > 0
    assert all(0 <= figures["recall_at_20"] <= 1 and figures["users"] == device["users"]
               for figures in report["test"].values())
    assert "| history model, int8 on the device |" in (artifacts / "eval" / "results.md").read_text()


def test_eval_past_its_limits_scores_a_sample_of_the_users_and_skips_ease(half_star_bundle: Path,
                                                                          monkeypatch: pytest.MonkeyPatch,
                                                                          tmp_path: Path) -> None:
    from trainer import implicit_baselines, log_evaluation
    from trainer.config import EvalConfig

    monkeypatch.setattr(implicit_baselines, "EASE_MAX_ITEMS", ITEMS - 1)
    artifacts = half_star_bundle.parents[1]
    trained = json.loads((artifacts / "metrics.json").read_text())
    report = log_evaluation.run_log_eval(EvalConfig(artifacts=str(artifacts), output_dir=str(tmp_path), max_users=40),
                                         trained)
    assert report["test"]["EASE"] == {"skipped": "80 items, past EASE's 79 (its item × item inverse is dense)"}
    assert [report["test"][name]["users"] for name in ("popularity", "implicit ALS",
                                                       "history model, int8 on the device")] == [40, 40, 40]
    assert "| EASE | skipped: 80 items" in (tmp_path / "results.md").read_text()


def test_convert_validates_a_seeded_sample_of_the_users_past_validation_users(half_star_bundle: Path,
                                                                             tmp_path: Path) -> None:
    artifacts = half_star_bundle.parents[1]
    converted = _edgerank("convert", "--saved-model", str(artifacts / "history"), "--quantize", "int8", "--output",
                          str(tmp_path / "bundle"), "--validation-data", str(artifacts / "data" / "test.npz"),
                          "--history-data", str(artifacts / "data" / "train.npz"), "--validation-users", "30",
                          "--order-users", "10", "--json")
    assert converted.returncode == 0, converted.stderr[-3000:]
    validation = json.loads(converted.stdout)["validation"]
    with np.load(artifacts / "data" / "test.npz") as test:
        users = test["user_id"]
    sampled = holdout.sample_users({"user_id": users}, 30, 42)["user_id"]
    assert len(np.unique(users)) > 30 and validation["pairs"] == len(sampled) and validation["order_users"] == 10
