"""The history-based device model on synthetic data: no user in the file, the client's rules, the CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import MOVIES, USERS, assert_matches_schema, movie_title, zip_folder

#: Ratings each added user gives, when the training data gains users.
ADDED_RATINGS = 20


def _with_more_users(folder: Path, target: Path) -> Path:
    """A copy of the synthetic archive with USERS more users rating the same catalogue."""
    root = target / "ml-100k"
    shutil.copytree(folder, root)
    rng = np.random.default_rng(1)
    lines, users = [], []
    for user in range(USERS + 1, 2 * USERS + 1):
        for movie in rng.choice(MOVIES, ADDED_RATINGS, replace=False):
            lines.append(f"{user}\t{movie + 1}\t{rng.integers(1, 6)}\t{890000000 + user * 100 + int(movie)}\n")
        users.append(f"{user}|{20 + user}|{'MF'[user % 2]}|student|{10000 + user}\n")
    with open(root / "u.data", "a", encoding="iso-8859-1") as data:
        data.write("".join(lines))
    with open(root / "u.user", "a", encoding="iso-8859-1") as user_file:
        user_file.write("".join(users))
    return zip_folder(root, target / "ml-100k.zip")


def _train_and_convert(archive: Path, output: Path) -> Path:
    from edgerank import cli
    from interactions.schema import LogConfig
    from trainer.config import HistoryConfig, RankingConfig, RetrievalConfig, SplitConfig, TrainConfig
    from trainer.pipeline import train

    train(TrainConfig(log=LogConfig(data=str(archive)), output_dir=str(output), split=SplitConfig(train_fraction=0.8),
                      ranking=RankingConfig(model="autorec", autorec_hidden_units=16, autorec_max_epochs=40,
                                            autorec_patience=5),
                      retrieval=RetrievalConfig(model="history"),
                      history=HistoryConfig(embedding_dim=8, max_epochs=6, patience=2, batch_users=16)), verbose=0)
    bundle = output / "edge" / "history"
    # Through the command, as a user converts (it also remembers the bundle as the default --model).
    assert cli.main(["-v", "convert", "--saved-model", str(output / "history"), "--quantize", "int8", "--output",
                     str(bundle), "--validation-data", str(output / "data" / "test.npz"), "--history-data",
                     str(output / "data" / "train.npz"), "--min-top-10-overlap", "0", "--min-pair-agreement",
                     "0"]) == 0  # 40 titles: the order gate is MovieLens's
    return bundle


@pytest.fixture(scope="module")
def history_bundles(synthetic_archive: Path, synthetic_folder: Path, tmp_path_factory) -> dict[str, Path]:
    bigger = _with_more_users(synthetic_folder, tmp_path_factory.mktemp("more-users"))
    return {"base": _train_and_convert(synthetic_archive, tmp_path_factory.mktemp("history")),
            "more_users": _train_and_convert(bigger, tmp_path_factory.mktemp("history-more"))}


@pytest.fixture(scope="module")
def ranker(history_bundles: dict[str, Path]):
    from edge_runtime import EdgeRanker

    return EdgeRanker(history_bundles["base"])


def test_the_bundle_keeps_its_size_when_the_training_data_gains_users(history_bundles: dict[str, Path]) -> None:
    from edge_runtime import EdgeRanker

    manifests = {name: assert_matches_schema(path / "manifest.json", "manifest") for name, path in history_bundles.items()}
    trained_users = {name: json.loads((path.parents[1] / "metrics.json").read_text())["data"]["users"]
                     for name, path in history_bundles.items()}
    assert trained_users == {"base": USERS, "more_users": 2 * USERS}
    # Twice the users, the same tables: only the constants the data chooses (the fold-in's λ growth, which a
    # converter may share with an equal constant) can move the size, by a few hundred bytes of ~60 KB.
    assert abs(manifests["base"]["size_bytes"] - manifests["more_users"]["size_bytes"]) <= 1024
    for name, path in history_bundles.items():
        ranker = EdgeRanker(path)
        assert ranker.kind == "history" and manifests[name]["kind"] == "history"
        inputs = {i for signature in ranker.signatures().values() for i in signature["inputs"]}
        assert "user_id" not in inputs
        interpreter = ranker._session().interpreter
        dimensions = {d for tensor in interpreter.get_tensor_details() for d in tensor["shape_signature"]}
        assert trained_users[name] not in dimensions, (name, sorted(dimensions))


def test_personalize_score_and_recommend(ranker) -> None:
    from edge_runtime import HistoryError

    history = [(movie_title(1), 5), (movie_title(2), 1), (movie_title(3), 4.5)]
    state = ranker.personalize(history)
    candidates = [movie_title(m) for m in range(4, 20)]
    scores = ranker.score(state, candidates)
    assert scores.shape == (16,) and np.all((scores >= 1) & (scores <= 5))
    np.testing.assert_array_equal(ranker.score(history, candidates), scores)  # a history is personalized first
    assert state.rated_titles == tuple(title for title, _ in history) and state.unknown_titles == ()
    # The state is every title's rating (the out-of-vocabulary one first), then the retrieval vector:
    # score looks its candidates up there.
    architecture = ranker.manifest["architecture"]
    assert state.vector.shape == (architecture["state_size"],) == (MOVIES + 1 + architecture["retrieval_embedding"],)
    np.testing.assert_array_equal(ranker.score(state, ranker.titles()), state.vector[1 : MOVIES + 1])
    np.testing.assert_array_equal(ranker.score(state, ["Sped (1994)"]), state.vector[:1])

    # Repeated titles count once, with the last rating; unknown titles are ignored and named.
    repeated = ranker.personalize([(movie_title(1), 1), *history, ("Sped (1994)", 3)])
    np.testing.assert_allclose(repeated.vector, state.vector, atol=1e-6)
    assert repeated.unknown_titles == ("Sped (1994)",)

    # An empty history is the average user; 100,000 rows are fine.
    empty = ranker.personalize([])
    assert empty.vector.shape == state.vector.shape and not np.allclose(empty.vector, state.vector)
    rng = np.random.default_rng(0)
    many = [(movie_title(int(m)), float(r)) for m, r in zip(rng.integers(1, MOVIES + 1, 100_000),
                                                           rng.integers(1, 6, 100_000))]
    assert len(ranker.personalize(many).rated_titles) == MOVIES

    for bad in ([(movie_title(1), float("nan"))], [(movie_title(1), 6)], [(movie_title(1), "five")], "Fargo"):
        with pytest.raises(HistoryError):
            ranker.personalize(bad)

    ranking = ranker.recommend(history, k=5, candidates=20)
    titles = [candidate.movie_title for candidate in ranking.candidates]
    assert len(titles) == 5 and not set(titles) & {title for title, _ in history}
    assert [c.score for c in ranking.candidates] == sorted((c.score for c in ranking.candidates), reverse=True)
    everything = ranker.retrieve(history, k=1000)
    assert len(everything) == MOVIES - len(history) and not set(everything) & set(state.rated_titles)


def test_the_server_retrieves_with_the_history_retrieval(history_bundles: dict[str, Path]) -> None:
    import tensorflow as tf

    from edge_runtime.contract import STATE_OUTPUT
    from interactions import split_files
    from trainer import retrieval_serving, scoring, serving

    artifacts = history_bundles["base"].parents[1]
    assert serving.read_info(serving.resolve(artifacts / "retrieval"))["model"] == "history"
    embeddings = retrieval_serving.read_embeddings(artifacts / "retrieval")
    device_model = tf.saved_model.load(str(serving.resolve(artifacts / "history")))
    served = retrieval_serving.load(serving.resolve(artifacts / "retrieval")).signatures["retrieve"]
    histories = scoring.user_histories(split_files.read_split(artifacts / "data" / "train.npz"))

    def retrieve(user: str) -> tuple[list[str], np.ndarray]:
        result = served(user_id=tf.constant([user]), k=tf.constant(MOVIES, tf.int32),
                        exclude_rated=tf.constant(False))
        return [t.decode() for t in result["titles"].numpy()[0]], result["scores"].numpy()[0]

    # Candidates: the history model's output embeddings with the bias as one more entry.
    candidates = embeddings["title_embeddings"]
    assert candidates.shape == (MOVIES, 9)
    for row, user in enumerate(embeddings["user_ids"][:10].tolist()):
        titles, ratings = histories[user]
        state = device_model.personalize(tf.constant(titles), tf.constant(ratings))[STATE_OUTPUT].numpy()
        # A user's query is their training titles pooled, as the device pools them, and a 1 for the bias.
        np.testing.assert_allclose(embeddings["user_embeddings"][row], [*state[MOVIES + 1 :], 1.0], atol=1e-5)
        on_device = device_model.recommend(tf.constant(state), tf.constant([], tf.string))
        server_titles, server_scores = retrieve(user)
        np.testing.assert_allclose(server_scores, on_device["scores"].numpy()[:MOVIES], atol=1e-4)
        assert server_titles[:5] == [t.decode() for t in on_device["titles"].numpy()[:5]]
    # An unknown user is the empty history: the biases alone decide.
    _, scores = retrieve("nobody")
    np.testing.assert_allclose(scores, np.sort(candidates[:, -1])[::-1], atol=1e-4)


def test_the_interpreter_is_reallocated_only_when_a_shape_changes(history_bundles: dict[str, Path],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from edge_runtime import EdgeRanker, ranker

    class CountingAllocations:
        def __init__(self, wrapped) -> None:
            self.wrapped, self.allocations = wrapped, 0

        def AllocateTensors(self, *arguments):
            self.allocations += 1
            return self.wrapped.AllocateTensors(*arguments)

        def __getattr__(self, name: str):
            return getattr(self.wrapped, name)

    direct = EdgeRanker(history_bundles["base"])
    history, titles = [(movie_title(1), 5), (movie_title(7), 2)], direct.titles()
    state = direct.personalize(history)
    score = direct._session().score
    counting = score.wrapper = CountingAllocations(score.wrapper)
    for candidates in (titles[:3], titles[3:6], titles[:16], titles[:16], [], titles[5:8]):
        direct.score(state, candidates)
    assert counting.allocations == 3  # for 3, 16 and 3 candidates: none when a call repeats the last size (or has none)

    # An interpreter without the native calls goes through its SignatureRunner: the same figures.
    monkeypatch.setattr(ranker._Signature, "_METHODS", ("NoSuchMethod",))
    through_runner = EdgeRanker(history_bundles["base"])
    assert through_runner._session().score.wrapper is None
    np.testing.assert_array_equal(state.vector, through_runner.personalize(history).vector)
    for candidates in (titles[:3], titles[3:6], titles[:16], [], titles[5:8], titles):
        scores = direct.score(state, candidates)
        np.testing.assert_array_equal(scores, through_runner.score(state, candidates))
        np.testing.assert_array_equal(scores, [direct.score(state, [title])[0] for title in candidates])
    np.testing.assert_array_equal(direct.score(state, [t.encode() for t in titles[:5]]), state.vector[1:6])
    assert direct.retrieve(history, 10) == through_runner.retrieve(history, 10)

    # Candidates beyond chunk_size go in several calls: the same scores and flags as one call.
    chunked, listed = EdgeRanker(history_bundles["base"], chunk_size=4), [*titles, "Sped (1994)"]
    np.testing.assert_array_equal(chunked.score(state, listed), direct.score(state, listed))
    ranking = chunked.rank(state, listed)
    assert ranking == direct.rank(state, listed) and [c.known for c in ranking.candidates].count(False) == 1


def test_the_retrieval_squared_error_weighs_targets_and_leaves_out_the_visible_titles() -> None:
    from trainer.history_retrieval import weighted_squared_error

    scores = np.array([[0.5, 2.0, -1.0, 0.0], [1.0, 1.0, 1.0, 1.0]], np.float32)
    targets = np.array([[1, 0, 0, 0], [0, 0, 1, 0]], np.float32)
    visible = np.array([[False, True, False, False], [False] * 4])
    # User 1: 6 × 0.5² for the target, nothing for the visible title, 1 × 1² + 1 × 0² for the rest: 2.5.
    # User 2: 6 × 0² for the target, 1 × 1² for each of the other three: 3. Mean: 2.75.
    assert float(weighted_squared_error(scores, targets, visible, confidence=5.0)) == pytest.approx(2.75)
    assert float(weighted_squared_error(scores, targets, visible, confidence=0.0)) == pytest.approx((1.25 + 3.0) / 2)


def test_history_files(tmp_path: Path) -> None:
    from edge_runtime import HistoryError, read_history

    (tmp_path / "h.csv").write_text('title,rating\n"Godfather, The (1972)",5\nFargo (1996),4\n\n', encoding="utf-8")
    assert read_history(str(tmp_path / "h.csv")) == [("Godfather, The (1972)", 5.0), ("Fargo (1996)", 4.0)]
    (tmp_path / "h.jsonl").write_text('{"title": "Fargo (1996)", "rating": 4}\n{"title": "Heat (1995)", "rating": 2}\n')
    assert read_history(str(tmp_path / "h.jsonl")) == [("Fargo (1996)", 4.0), ("Heat (1995)", 2.0)]
    for content, message in (("Fargo (1996),4\nHeat (1995),nan\n", "line 2"), ("Fargo (1996),9\n", "scale 1-5"),
                             ("Fargo (1996),4,extra\n", "line 1"), ('{"title": "Fargo (1996)"}\n', "line 1")):
        (tmp_path / "bad.csv").write_text(content)
        with pytest.raises(HistoryError, match=message):
            read_history(str(tmp_path / "bad.csv"), (1.0, 5.0))


def test_score_and_recommend_from_a_history_file(history_bundles: dict[str, Path], tmp_path: Path) -> None:
    bundle = str(history_bundles["base"])
    history = f'"{movie_title(1)}",5\n"{movie_title(2)}",2\nSped (1994),4\n'

    def edgerank(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "edgerank", *args], input=stdin, capture_output=True, text=True)

    scored = edgerank("score", "--json", "--model", bundle, "--history", "-", movie_title(5), movie_title(6), stdin=history)
    assert scored.returncode == 0, scored.stderr
    result = json.loads(scored.stdout)
    assert [c["movie_title"] for c in result["candidates"]] != [] and result["user_id"] is None
    assert "Sped (1994)" in scored.stderr and [entry["title"] for entry in result["history"]["unknown"]] == [
        "Sped (1994)"]
    recommended = edgerank("recommend", "--json", "--model", bundle, "--history", "-", "--k", "3", stdin=history)
    assert recommended.returncode == 0, recommended.stderr
    titles = [r["movie_title"] for r in json.loads(recommended.stdout)["recommendations"]]
    assert len(titles) == 3 and movie_title(1) not in titles
    # Without --model: the bundle the last `edgerank convert` wrote (the fixture's second), from any folder.
    from edgerank.default_model import last_bundle_file

    assert last_bundle_file().read_text().strip() == str(history_bundles["more_users"].resolve())
    default = subprocess.run([sys.executable, "-m", "edgerank", "recommend", "--json", "--history", "-", "--k", "3"],
                             input=history, capture_output=True, text=True, cwd=tmp_path)
    assert default.returncode == 0 and json.loads(default.stdout)["returned"] == 3, default.stderr
    for args, stdin, message in ((("score", "--json", "--model", bundle, "--user", "3"), "", "--history"),
                                 (("recommend", "--json", "--model", bundle, "--history", "-"), "Fargo (1996),nan\n", "line 1")):
        failed = edgerank(*args, stdin=stdin)
        assert failed.returncode == 2 and message in failed.stderr and len(failed.stderr.splitlines()) == 1, \
            failed.stderr


def test_android_export_prints_the_history_signatures(history_bundles: dict[str, Path], tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "edgerank", "bundle", "--model", str(history_bundles["base"]),
                             "--out", str(tmp_path / "assets"), "--android"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for line in ('"personalize")', '"score")', '"recommend")', '"history_titles" to titles', '"exclude_titles" to rated',
                 "fun verifyRanker"):
        assert line in result.stdout, line
    assert "user_id" not in result.stdout
    assert_matches_schema(tmp_path / "assets" / "edgerank" / "manifest.json", "manifest")
    # The whole sequence, as the README's Android section shows it, and the manifest fields it reads.
    from converters.bundle import android_sequence

    assert android_sequence() in result.stdout
    assert android_sequence() in (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    manifest = json.loads((tmp_path / "assets" / "edgerank" / "manifest.json").read_text())
    assert {"state_size", "recommend_k"} <= set(manifest["architecture"])
    # Outputs have one value per input entry: the manifest says [-1], as the contract does, not [].
    outputs = {name: signature["outputs"] for name, signature in manifest["signatures"].items()}
    assert outputs["score"]["rating"]["shape"] == outputs["personalize"]["history_known"]["shape"] == [-1]


def test_bench_times_a_history_bundle_in_its_own_table(history_bundles: dict[str, Path], trained: Path,
                                                      bundles: dict[str, Path], tmp_path: Path) -> None:
    def bench(*models: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "edgerank", "bench", "--quick", "--saved-model", str(trained / "ranking"),
             "--models", *map(str, models), "--data", str(trained / "data" / "test.npz"), "--candidate-counts", "10",
             "--order-users", "0", "--contenders", "tflite_float32_ai_edge_litert", "tflite_history_ai_edge_litert",
             "--output-dir", str(tmp_path / "bench")], capture_output=True, text=True)

    result = bench(bundles["none"], history_bundles["base"])
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "bench" / "results.json").read_text())
    assert list(report["contenders"]) == ["tflite_float32_ai_edge_litert"]
    entry = report["history"]["tflite_history_ai_edge_litert"]
    assert entry["request"]["catalogue"] == 40 and entry["request"]["repeats"] == 300 and list(entry["threads"]) == ["1"]
    calls = entry["threads"]["1"]
    assert sorted(calls) == ["personalize", "recommend", "recommend_two_stage", "score"]
    assert all(0 < timing["min_us"] <= timing["p50_us"] <= timing["p99_us"] for timing in calls.values())
    table = (tmp_path / "bench" / "results.md").read_text()
    assert "| tflite_history_ai_edge_litert | 1 | " in table and "personalize µs" in table
    alone = bench(history_bundles["base"])
    assert alone.returncode == 2 and "--models names no id model" in alone.stderr and len(alone.stderr.splitlines()) == 1


def test_eval_cross_validates_the_history_retrieval(history_bundles: dict[str, Path], synthetic_archive: Path,
                                                    tmp_path: Path) -> None:
    from trainer.config import EvalConfig, SplitConfig
    from trainer.evaluation import run_eval

    artifacts = history_bundles["base"].parent.parent
    report = run_eval(EvalConfig(data=str(synthetic_archive), artifacts=str(artifacts), output_dir=str(tmp_path),
                                 split=SplitConfig(train_fraction=0.8), baselines=False, new_users=False))
    trained = json.loads((artifacts / "metrics.json").read_text())["history"]
    figures = report["test"]["edgerank_history_retrieval"]
    assert figures["all_top_100"] == trained["top_100"] and figures["unseen_top_10"] == trained["unseen_top_10"]
    folds = report["per_fold"]["edgerank_history_retrieval"]
    assert len(folds) == 5 and all(0 < fold["all_top_10"] <= fold["all_top_50"] == 1.0 for fold in folds)  # 40 titles
    assert all(fold["unseen_top_10"] >= fold["all_top_10"] for fold in folds)
    assert "edgerank history retrieval" in (tmp_path / "results.md").read_text()
    # The server's retrieval is the history retrieval: the same figures, on the test split and every fold.
    assert report["test"]["edgerank_retrieval"] == pytest.approx(figures, abs=0.01)
    assert report["per_fold"]["edgerank_retrieval"] == folds
