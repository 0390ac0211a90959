"""The edge client's contract: inputs, out-of-vocabulary, chunking, threads, integrity."""

from __future__ import annotations

import importlib.util
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import edge_runtime.ranker as ranker_module
from edge_runtime import BackendUnavailableError, EdgeRanker, InputError, ModelError, Ranking, load_backend

UNKNOWN = "Not A Real Movie (2031)"


@pytest.fixture(scope="module")
def ranker(bundle: Path) -> EdgeRanker:
    return EdgeRanker(bundle)


@pytest.fixture(scope="module")
def titles(test_split: Path) -> list[str]:
    with np.load(test_split) as split:
        return np.unique(split["movie_title"]).tolist()


@pytest.fixture(scope="module")
def users(test_split: Path) -> list[str]:
    with np.load(test_split) as split:
        return np.unique(split["user_id"]).tolist()


# --- scoring -----------------------------------------------------------------


def test_scores_follow_input_order(ranker: EdgeRanker, titles: list[str]) -> None:
    some = titles[:50]
    scores = ranker.score("42", some)
    assert scores.dtype == np.float32 and scores.shape == (50,)
    np.testing.assert_allclose(ranker.score("42", some[::-1]), scores[::-1], atol=1e-6)
    np.testing.assert_allclose(ranker.score("42", some[:3]), scores[:3], atol=1e-6)


def test_rank_returns_the_best_k_best_first(ranker: EdgeRanker, titles: list[str]) -> None:
    scores = ranker.score("42", titles[:100])
    ranking = ranker.rank("42", titles[:100], k=10)
    assert ranking.user_id == "42" and ranking.user_known
    assert [c.movie_title for c in ranking.candidates] == [titles[i] for i in np.argsort(-scores, kind="stable")[:10]]
    assert [c.score for c in ranking.candidates] == sorted((c.score for c in ranking.candidates), reverse=True)
    assert all(c.known for c in ranking.candidates)
    assert len(ranker.rank("42", titles[:100]).candidates) == 100
    assert ranker.rank("42", titles[:100], k=0).candidates == []


def test_empty_candidates_give_an_empty_result(ranker: EdgeRanker) -> None:
    assert ranker.score("42", []).shape == (0,)
    assert ranker.rank("42", [], k=5) == Ranking("42", None, [])


def test_unknown_titles_are_scored_and_flagged(ranker: EdgeRanker, titles: list[str]) -> None:
    ranking = ranker.rank("42", [titles[0], UNKNOWN, "another unknown"])
    flags = {c.movie_title: c.known for c in ranking.candidates}
    assert flags == {titles[0]: True, UNKNOWN: False, "another unknown": False}
    # Both unknowns share the out-of-vocabulary embedding, hence the same score.
    scores = ranker.score("42", [UNKNOWN, "another unknown"])
    assert scores[0] == scores[1] and np.isfinite(scores).all()


def test_an_unknown_user_is_scored_and_flagged(ranker: EdgeRanker, titles: list[str]) -> None:
    ranking = ranker.rank("no-such-user", titles[:5])
    assert not ranking.user_known and len(ranking.candidates) == 5
    np.testing.assert_allclose(ranker.score("no-such-user", titles[:5]), ranker.score("another-stranger", titles[:5]))


def test_duplicates_are_scored_each_time_and_ranked_once(ranker: EdgeRanker, titles: list[str]) -> None:
    listed = [titles[3], titles[4], titles[3], titles[3]]
    scores = ranker.score("7", listed)
    assert scores.shape == (4,) and scores[0] == scores[2] == scores[3]
    assert sorted(c.movie_title for c in ranker.rank("7", listed).candidates) == sorted({titles[3], titles[4]})


def test_tens_of_thousands_of_candidates_are_scored_in_chunks(bundle: Path, titles: list[str]) -> None:
    many = (titles * 30)[:40_000]
    big = EdgeRanker(bundle, chunk_size=1024).score("42", many)
    small = EdgeRanker(bundle, chunk_size=7).score("42", many[:500])
    reference = EdgeRanker(bundle, chunk_size=100_000).score("42", many)
    assert big.shape == (40_000,)
    np.testing.assert_allclose(big, reference, atol=1e-5)
    np.testing.assert_allclose(small, reference[:500], atol=1e-5)


def test_rank_many_equals_rank_one_by_one(ranker: EdgeRanker, titles: list[str], users: list[str]) -> None:
    requests = [(user, titles[i : i + 20]) for i, user in enumerate(users[:5])]
    assert ranker.rank_many(requests, k=3) == [ranker.rank(user, cands, k=3) for user, cands in requests]


# --- input types --------------------------------------------------------------


def test_int_user_ids_are_their_decimal_string(ranker: EdgeRanker, titles: list[str]) -> None:
    np.testing.assert_array_equal(ranker.score(42, titles[:5]), ranker.score("42", titles[:5]))
    assert ranker.rank(np.int64(42), titles[:2]).user_id == "42"


def test_utf8_bytes_equal_their_text(ranker: EdgeRanker, titles: list[str]) -> None:
    np.testing.assert_array_equal(ranker.score(b"42", [t.encode() for t in titles[:5]]), ranker.score("42", titles[:5]))
    np.testing.assert_array_equal(ranker.score("42", np.array(titles[:5])), ranker.score("42", titles[:5]))


@pytest.mark.parametrize(
    "user, candidates, message",
    [
        (None, ["Speed (1994)"], "user_id must be a string, got NoneType"),
        (4.2, ["Speed (1994)"], "user_id must be a string, got float"),
        (True, ["Speed (1994)"], "user_id must be a string, got bool"),
        ("42", ["Speed (1994)", None], "candidate 1 must be a string, got NoneType"),
        ("42", ["Speed (1994)", 3.5], "candidate 1 must be a string, got float"),
        ("42", "Speed (1994)", "candidates must be a sequence of titles, not a single string"),
        ("42", [b"Speed (1994)", b"caf\xe9"], "candidate 1 is not UTF-8: unexpected end of data at byte 3"),
        (b"\xff", ["Speed (1994)"], "user_id is not UTF-8: invalid start byte at byte 0"),
        ("42", ["ok", "bad \udcff"], "candidate 1 is not valid text: surrogates not allowed at character 4"),
    ],
)
def test_bad_inputs_raise_input_error(ranker: EdgeRanker, user, candidates, message: str) -> None:
    with pytest.raises(InputError, match="^" + message.replace("(", "\\(").replace(")", "\\)") + "$"):
        ranker.score(user, candidates)


def test_negative_k_is_refused(ranker: EdgeRanker) -> None:
    with pytest.raises(InputError, match="k must be >= 0, got -1"):
        ranker.rank("42", ["Speed (1994)"], k=-1)


# --- concurrency --------------------------------------------------------------


def test_concurrent_scoring_equals_sequential(ranker: EdgeRanker, titles: list[str], users: list[str]) -> None:
    rng = np.random.default_rng(1)
    requests = [(str(rng.choice(users)), rng.choice(titles, size=int(rng.integers(1, 300))).tolist())
                for _ in range(400)]
    sequential = [ranker.score(user, cands) for user, cands in requests]
    threads_used = set()

    def score(request):
        threads_used.add(threading.get_ident())
        return ranker.score(*request)

    with ThreadPoolExecutor(max_workers=8) as pool:
        concurrent = list(pool.map(score, requests))
    assert len(threads_used) > 1
    for a, b in zip(sequential, concurrent):
        np.testing.assert_array_equal(a, b)


# --- model integrity ------------------------------------------------------------


def _copy_bundle(bundle: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    return copy


def test_a_bundle_folder_and_its_file_load_the_same(bundle: Path) -> None:
    by_folder, by_file = EdgeRanker(bundle), EdgeRanker(bundle / "ranker.tflite")
    assert by_folder.manifest == by_file.manifest and by_folder.manifest["model"] == "ranker.tflite"
    np.testing.assert_array_equal(by_folder.score("1", ["Speed (1994)"]), by_file.score("1", ["Speed (1994)"]))


@pytest.mark.parametrize("where", [100, 5000, -200])
def test_a_flipped_byte_is_refused_by_the_checksum(bundle: Path, tmp_path: Path, where: int) -> None:
    copy = _copy_bundle(bundle, tmp_path)
    model = copy / "ranker.tflite"
    data = bytearray(model.read_bytes())
    data[where] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="does not match its manifest .* SHA-256 differs"):
        EdgeRanker(copy)


def test_a_truncated_model_is_refused(bundle: Path, tmp_path: Path) -> None:
    copy = _copy_bundle(bundle, tmp_path)
    model = copy / "ranker.tflite"
    whole = model.read_bytes()
    model.write_bytes(whole[:1000])
    with pytest.raises(ModelError, match=r"\(1000 bytes, expected \d+; SHA-256 differs\)"):
        EdgeRanker(copy)
    # Without a checksum, the FlatBuffer's offsets tell a cut file before any interpreter reads it:
    # tflite-runtime 2.14 reads past the end of one, and crashes or, with unlucky memory, hangs.
    bare = tmp_path / "bare" / "ranker.tflite"  # no manifest beside it
    bare.parent.mkdir()
    for length in (9, 1000, len(whole) // 2, len(whole) - 4096, len(whole) - 1):
        bare.write_bytes(whole[:length])
        with pytest.raises(ModelError, match=r"truncated or damaged TFLite model .* past the end"):
            EdgeRanker(bare, verify=False)


@pytest.mark.parametrize(("probe", "timeout", "message"), [
    ("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", 60, r"crashed the \w+ interpreter \(signal 11\)"),
    ("import time; time.sleep(30)", 1, "did not finish within 1 s: the file is damaged"),
    ("raise RuntimeError('unsupported op')", 60, "the interpreter cannot load .*: RuntimeError: unsupported op"),
])
def test_a_child_that_crashes_hangs_or_fails_on_a_bare_file_is_an_error(
        bundle: Path, monkeypatch: pytest.MonkeyPatch, probe: str, timeout: float, message: str) -> None:
    # Damage that the structural checks cannot see is met by loading the file in a child first:
    # whatever the child does, this process gets a ModelError and carries on.
    monkeypatch.setattr(ranker_module, "_PROBE", probe)
    with pytest.raises(ModelError, match=message):
        ranker_module.probe_in_child(bundle / "ranker.tflite", load_backend(), timeout=timeout)
    EdgeRanker(bundle)  # the parent still loads and scores


def test_a_crashing_child_leaves_no_core_file() -> None:
    limit = ranker_module.run_in_child("import resource; print(resource.getrlimit(resource.RLIMIT_CORE)[0])")
    assert limit.stdout.strip() == "0"


@pytest.mark.parametrize("content", [b"", b"garbage that is not a model", b"\x00" * 64])
def test_files_that_are_not_tflite_are_refused_before_loading(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.tflite"
    path.write_bytes(content)
    with pytest.raises(ModelError, match="not a TFLite model"):
        EdgeRanker(path, verify=False)


def test_a_model_without_manifest_needs_verify_false(bundle: Path, tmp_path: Path) -> None:
    bare = tmp_path / "ranker.tflite"
    shutil.copy(bundle / "ranker.tflite", bare)
    with pytest.raises(ModelError, match=r"no manifest.json beside .*verify=False\); edgerank score and info take "
                                         "--no-verify"):
        EdgeRanker(bare)
    assert EdgeRanker(bare, verify=False).manifest is None


@pytest.mark.parametrize(
    "manifest, message",
    [
        ("{not json", "cannot read"),
        ('{"schema_version": 99}', "schema_version 99; this runtime reads 2"),
        ('{"schema_version": 2, "model": "ranker.tflite", "sha256": "x"}', "lacks a valid 'size_bytes' field"),
        ('{"schema_version": 2, "model": "../x.tflite", "sha256": "x", "size_bytes": 1}', "must be a file name"),
        ('{"schema_version": 2, "model": "ranker.tflite", "sha256": "x", "size_bytes": 1, '
         '"runtime": {"cpu_delegate": "gpu"}}', "cpu_delegate must be one of"),
    ],
)
def test_a_broken_manifest_is_named(bundle: Path, tmp_path: Path, manifest: str, message: str) -> None:
    copy = _copy_bundle(bundle, tmp_path)
    (copy / "manifest.json").write_text(manifest)
    with pytest.raises(ModelError, match=message):
        EdgeRanker(copy)


def test_missing_paths_are_named(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="model file not found"):
        EdgeRanker(tmp_path / "nowhere.tflite")
    with pytest.raises(ModelError, match="folder without manifest.json"):
        EdgeRanker(tmp_path)


def test_manifest_describes_the_signature(ranker: EdgeRanker) -> None:
    assert ranker.manifest["signature"] == ranker.signature() == {
        "name": "score",
        "inputs": {"movie_title": {"dtype": "string", "shape": [-1]}, "user_id": {"dtype": "string", "shape": [1]}},
        "outputs": {"rating": {"dtype": "float32", "shape": [-1]}, "title_known": {"dtype": "bool", "shape": [-1]},
                    "user_known": {"dtype": "bool", "shape": [1]}},
    }
    assert ranker.manifest["metrics"]["max_abs_diff"] <= 1e-4


# --- backends -------------------------------------------------------------------


def test_backend_is_named_and_versioned() -> None:
    backend = load_backend()
    assert backend.name in ("ai_edge_litert", "tflite_runtime") and backend.version


def test_unknown_or_missing_backends_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(BackendUnavailableError, match="unknown backend 'nope'"):
        load_backend("nope")
    monkeypatch.setenv("EDGERANK_BACKEND", "also-nope")
    with pytest.raises(BackendUnavailableError, match="unknown backend 'also-nope'"):
        load_backend()
    monkeypatch.delenv("EDGERANK_BACKEND")
    if importlib.util.find_spec("tensorflow") is None:
        # A backend asked for by name and missing: the answer names the ones that are installed.
        installed = load_backend().name  # each edge environment has exactly one
        with pytest.raises(BackendUnavailableError,
                           match=rf"the tensorflow backend is not installed \(No module .*\); installed: {installed}$"):
            load_backend("tensorflow")
