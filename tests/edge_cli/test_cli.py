"""``edgerank score``/``info``/``bench-edge`` where only the edge client is installed.

Every bad input must end with exit status 2 and one line on standard error,
never a traceback or a signal.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.edge_cli.conftest import ARTIFACTS, EXPECTED_BACKEND, edgerank


def _ok(result) -> dict:
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return json.loads(result.stdout)


def _bad(result, message: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines


def test_candidates_from_a_file_and_stdin(bundle: Path, tmp_path: Path) -> None:
    listing = tmp_path / "candidates.txt"
    listing.write_text("Speed (1994)\n\nM*A*S*H (1970)\r\nStar Wars (1977)\n", encoding="utf-8")
    from_file = _ok(edgerank("score", "--json", "--model", str(bundle), "--user", "42", "--candidates-file", str(listing)))
    from_stdin = _ok(edgerank("score", "--json", "--model", str(bundle), "--user", "42", "--candidates-file", "-",
                              stdin=listing.read_bytes()))
    assert from_file == from_stdin
    assert {c["movie_title"] for c in from_file["candidates"]} == {"Speed (1994)", "M*A*S*H (1970)", "Star Wars (1977)"}


def test_k_and_unknown_flags_in_the_json(bundle: Path) -> None:
    payload = _ok(edgerank("score", "--json", "--model", str(bundle), "--user", "stranger", "--k", "2",
                           "Speed (1994)", "Not A Real Movie (2031)", "Star Wars (1977)"))
    assert payload["user_known"] is False and len(payload["candidates"]) == 2
    every = _ok(edgerank("score", "--json", "--model", str(bundle), "--user", "42", "Speed (1994)", "Not A Real Movie (2031)"))
    assert {c["movie_title"]: c["known"] for c in every["candidates"]} == {"Speed (1994)": True,
                                                                            "Not A Real Movie (2031)": False}


def test_typos_and_unknown_users_are_named_on_stderr(bundle: Path) -> None:
    typo = edgerank("score", "--json", "--model", str(bundle), "--user", "42", "Sped (1994)", "Star Wars (1977)")
    assert "unknown title 'Sped (1994)' (ranked after every known title): did you mean 'Speed (1994)'" in \
        typo.stderr.decode()
    assert [entry["did_you_mean"][0] for entry in _ok(typo)["unknown_candidates"]] == ["Speed (1994)"]
    for user, named in (("99999", "user '99999'"), ("", "an empty user id")):
        stranger = edgerank("score", "--json", "--model", str(bundle), "--user", user, "Star Wars (1977)")
        assert _ok(stranger)["user_known"] is False
        assert f"the model does not know {named}" in stranger.stderr.decode()


def test_unknown_candidates_never_outrank_known_ones_unless_asked(bundle: Path) -> None:
    worst = _ok(edgerank("score", "--json", "--model", str(bundle), "--user", "42"))["candidates"][-1]["movie_title"]
    request = ("score", "--json", "--model", str(bundle), "--user", "42", "Sped (1994)", "Star Wars (1977)",
               "Not A Real Movie (2031)", worst)
    scored = _ok(edgerank(*request, "--unknown", "score"))["candidates"]
    by_score = [c["known"] for c in scored]
    assert by_score != sorted(by_score, reverse=True), "this request must rank an unknown title above a known one"
    default = edgerank(*request)
    ranked = _ok(default)["candidates"]
    assert [c["known"] for c in ranked] == [True, True, False, False]
    assert [c["score"] for c in ranked[:2]] == sorted((c["score"] for c in ranked[:2]), reverse=True)
    # Cut off by --k, the unknown titles are still named on stderr.
    top = edgerank(*request, "--k", "1")
    assert [c["known"] for c in _ok(top)["candidates"]] == [True]
    assert top.stderr.decode().count("unknown title") == 2
    assert len(_ok(top)["unknown_candidates"]) == 2
    dropped = edgerank(*request, "--unknown", "drop")
    assert [c["known"] for c in _ok(dropped)["candidates"]] == [True, True]
    assert dropped.stderr.decode().count("(left out)") == 2


def test_candidates_are_matched_as_people_type_them(bundle: Path) -> None:
    result = edgerank("score", "--json", "--model", str(bundle), "--user", "42", "star wars", "the godfather",
                      "Speed (1994)")
    payload = _ok(result)
    assert {c["movie_title"] for c in payload["candidates"]} == {"Star Wars (1977)", "Godfather, The (1972)",
                                                                  "Speed (1994)"}
    assert all(c["known"] for c in payload["candidates"])
    assert payload["matched_candidates"] == [{"given": "star wars", "title": "Star Wars (1977)"},
                                             {"given": "the godfather", "title": "Godfather, The (1972)"}]
    assert "candidate 'the godfather' taken as 'Godfather, The (1972)'" in result.stderr.decode()


def test_no_candidates_ranks_the_whole_catalogue(bundle: Path, tmp_path: Path) -> None:
    best = _ok(edgerank("score", "--json", "--model", str(bundle), "--user", "42", "--k", "5"))["candidates"]
    everything = _ok(edgerank("score", "--json", "--model", str(bundle), "--user", "42"))["candidates"]
    assert len(everything) == 1664 and best == everything[:5]
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert _ok(edgerank("score", "--json", "--model", str(bundle), "--user", "42", "--candidates-file", str(empty)))[
        "candidates"] == []


def test_bad_inputs_exit_2_with_one_line(bundle: Path, tmp_path: Path) -> None:
    bad_file = tmp_path / "latin1.txt"
    bad_file.write_bytes(b"Speed (1994)\nMis\xe9rables\n")
    _bad(edgerank("score", "--json", "--model", str(bundle), "--user", "42", "--candidates-file", str(bad_file)),
         "line 2 is not UTF-8")
    _bad(edgerank("score", "--json", "--model", str(bundle), "--user", "42", "--candidates-file", str(tmp_path / "none")),
         "cannot read candidates file")
    for k in ("-3", "0"):
        _bad(edgerank("score", "--json", "--model", str(bundle), "--user", "42", "--k", k, "Speed (1994)"),
             f"--k must be >= 1, got {k}")
    _bad(edgerank("score", "--json", "--model", str(tmp_path / "missing"), "--user", "42", "x"), "model file not found")
    tampered = tmp_path / "bundle"
    shutil.copytree(bundle, tampered)
    model = tampered / "ranker.tflite"
    model.write_bytes(model.read_bytes()[:-10] + b"0123456789")
    _bad(edgerank("score", "--json", "--model", str(tampered), "--user", "42", "x"), "does not match its manifest")


def test_non_utf8_arguments_exit_2(bundle: Path) -> None:
    import os
    import subprocess
    import sys

    # Python receives undecodable argv bytes as surrogate escapes.
    result = subprocess.run([sys.executable, "-m", "edgerank", "score", "--json", "--model", str(bundle), "--user",
                             "42", os.fsdecode(b"Mis\xe9rables")], capture_output=True)
    _bad(result, "candidate 0 is not valid text")


def test_a_reader_that_stops_early_gets_no_traceback(bundle: Path) -> None:
    import subprocess
    import sys

    # `edgerank score --json … | head -1`: the whole catalogue's JSON (about 150 KB) into a pipe closed early.
    child = subprocess.Popen([sys.executable, "-m", "edgerank", "score", "--json", "--model", str(bundle), "--user",
                              "42"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout.readline() == b"{\n"
    child.stdout.close()
    stderr = child.stderr.read().decode()
    assert child.wait() == 1 and stderr == "", stderr


def test_info_reports_backend_and_model(bundle: Path) -> None:
    info = _ok(edgerank("info", "--json", "--model", str(bundle)))
    assert info["model"]["verified"] is True and info["model"]["signature"]["name"] == "score"
    if EXPECTED_BACKEND:
        assert info["backend"]["name"] == EXPECTED_BACKEND
    version = edgerank("--version")
    assert version.returncode == 0 and version.stdout.decode().startswith("edgerank ")
    assert info["backend"]["name"] in version.stdout.decode()


def test_bench_edge_writes_a_complete_report(bundle: Path, test_split: Path, tmp_path: Path) -> None:
    output = tmp_path / "edge.json"
    _ok(edgerank("bench-edge", "--json", "--model", str(bundle), "--data", str(test_split), "--output", str(output),
                 "--warmup", "20", "--repeats", "200", "--cold-starts", "1"))
    report = json.loads(output.read_text())
    for key in ("api", "invoke"):
        figures = report[key]
        assert 0 < figures["min_us"] <= figures["p50_us"] <= figures["p95_us"] <= figures["p99_us"]
    assert report["request"]["candidates"] == 100 and report["api_over_invoke_p50"] > 0
    assert report["cold_start"]["tensorflow_imported"] is False and report["cold_start"]["peak_rss_mb_max"] > 0


def test_recommend_from_a_handoff_file_without_tensorflow(tmp_path: Path) -> None:
    handoff = ARTIFACTS / "handoff" / "42.json"
    payload = _ok(edgerank("recommend", "--json", "--user", "42", "--k", "10", "--model", str(ARTIFACTS / "edge" / "int8"),
                           "--handoff", str(handoff)))
    candidates = {c["movie_title"]: c["retrieval_score"] for c in json.loads(handoff.read_text())["candidates"]}
    picked = payload["recommendations"]
    assert len(picked) == 10 and payload["user_known"] is True
    assert all(p["movie_title"] in candidates and p["retrieval_score"] == candidates[p["movie_title"]] for p in picked)
    assert [p["score"] for p in picked] == sorted((p["score"] for p in picked), reverse=True)
    # Retrieving needs the trainer's environment; here it fails with one line.
    _bad(edgerank("recommend", "--json", "--user", "42", "--model", str(ARTIFACTS / "edge" / "int8"),
                  "--retrieval", str(tmp_path)), "retrieval failed")


def test_score_cli_prints_json_best_first(bundle) -> None:
    result = edgerank("score", "--json", "--model", str(bundle / "ranker.tflite"), "--user", "42", "Speed (1994)", "M*A*S*H (1970)")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert {c["movie_title"] for c in payload["candidates"]} == {"Speed (1994)", "M*A*S*H (1970)"}
    scores = [c["score"] for c in payload["candidates"]]
    assert scores == sorted(scores, reverse=True)
    if EXPECTED_BACKEND:
        assert payload["backend"].startswith(EXPECTED_BACKEND)


@pytest.mark.parametrize("command", [["train"], ["convert"], ["retrieve", "--json", "--user", "1"], ["eval"], ["demo"],
                                     ["bench", "--quick"], ["bench", "retrieval"]])
def test_trainer_commands_name_the_extra_they_need(command: list[str]) -> None:
    _bad(edgerank(*command), "needs the train extra, which is not installed here (no module tensorflow): "
                             "pip install 'edgerank[train]'")


def test_a_missing_backend_names_the_installed_ones(bundle: Path) -> None:
    if not EXPECTED_BACKEND:
        pytest.skip("needs an environment with exactly one known backend (make test sets it)")
    other = "tflite_runtime" if EXPECTED_BACKEND == "ai_edge_litert" else "ai_edge_litert"
    result = edgerank("score", "--json", "--model", str(bundle), "--user", "42", "--backend", other, "Speed (1994)")
    _bad(result, f"the {other} backend is not installed")
    assert result.stderr.decode().strip().endswith(f"installed: {EXPECTED_BACKEND}")


def test_threads_below_one_are_named_as_the_flag(bundle: Path) -> None:
    _bad(edgerank("score", "--json", "--model", str(bundle), "--user", "42", "--threads", "0", "Speed (1994)"),
         "--threads must be >= 1, got 0")


def _score_damaged_copies(bundle: Path, tmp_path: Path, *request: str) -> None:
    """Scores seeded randomly damaged copies of ``bundle``'s model with ``--no-verify``: exit 0 or 2, never a signal.

    1-8 bytes overwritten per copy; ``EDGERANK_DAMAGED_COPIES`` copies (30 unless set).
    """
    import os
    import random

    rng = random.Random(bundle.name)
    source = (bundle / "ranker.tflite").read_bytes()
    copies = int(os.environ.get("EDGERANK_DAMAGED_COPIES", "30"))
    for copy in range(copies):
        data = bytearray(source)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        damaged = tmp_path / f"{copy}.tflite"
        damaged.write_bytes(bytes(data))
        result = edgerank("score", "--json", "--no-verify", "--model", str(damaged), *request)
        assert result.returncode in (0, 2), (copy, result.returncode, result.stderr[-500:])
        if result.returncode == 2:
            assert len(result.stderr.decode().strip().splitlines()) == 1, result.stderr


def test_damaged_unverified_models_never_kill_the_process(variant_bundle: Path, tmp_path: Path) -> None:
    # When the probe only loaded the model, about 1 copy in 15 of the float32 model killed
    # `score --no-verify` with SIGSEGV; some damage is reached only by a real title, which is why
    # `score --no-verify` scores in a child process.
    _score_damaged_copies(variant_bundle, tmp_path, "--user", "42", "Speed (1994)", "Not A Real Movie (2031)")


@pytest.mark.parametrize("variant", ["history-int8", "history-float32"])
def test_damaged_unverified_history_models_never_kill_the_process(variant: str, tmp_path: Path) -> None:
    bundle = ARTIFACTS.parent / "quality" / "edge" / variant
    if not bundle.is_dir():
        if EXPECTED_BACKEND:
            pytest.fail(f"{bundle} is missing: tests/integration/test_model_quality.py writes it")
        pytest.skip(f"{bundle} is missing")
    history = tmp_path / "ratings.csv"
    history.write_text('"Star Wars (1977)",5\n"Fargo (1996)",4\n"Speed (1994)",2\n')
    _score_damaged_copies(bundle, tmp_path, "--history", str(history), "Heat (1995)", "Not A Real Movie (2031)")
