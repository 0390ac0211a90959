"""The user's history file, the device commands' main input, where only the edge client is installed.

Titles typed as people type them are matched to the catalogue; nothing is
dropped without a word; and every hostile file (a battery of named cases and
a seeded fuzz corpus) ends in exit 0, or exit 2 with one line: never a
traceback or a signal. The bundle is the MovieLens 100K history bundle of
the model-quality test (``build/quality``).
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from tests.edge_cli.conftest import ARTIFACTS, EXPECTED_BACKEND, edgerank

BUNDLE = ARTIFACTS.parent / "quality" / "edge" / "history-int8"

pytestmark = pytest.mark.skipif(not BUNDLE.is_dir() and not EXPECTED_BACKEND,
                                reason=f"{BUNDLE} is missing: tests/integration/test_model_quality.py writes it")

EXACT = [("Godfather, The (1972)", 5), ("Fargo (1996)", 4), ("Shawshank Redemption, The (1994)", 5),
         ("Speed (1994)", 2), ("Star Wars (1977)", 5), ("Schindler's List (1993)", 4)]
#: The same films as people type them: lower case, without the year, the article in front.
TYPED = [("the godfather", 5), ("fargo", 4), ("The Shawshank Redemption (1994)", 5), ("SPEED", 2),
         ("star wars", 5), ("schindlers list", 4)]


def _history(tmp_path: Path, pairs: list[tuple[str, float]], name: str = "history.csv") -> str:
    path = tmp_path / name
    path.write_text("".join(f'"{title}",{rating}\n' for title, rating in pairs), encoding="utf-8")
    return str(path)


def _recommend(history: str, *flags: str):
    return edgerank("recommend", "--json", "--model", str(BUNDLE), "--history", history, "--k", "10", *flags)


def _ok(result) -> dict:
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return json.loads(result.stdout)


def _one_line(result, message: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    lines = result.stderr.decode(errors="replace").strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines


def test_typed_titles_get_the_same_recommendations_as_exact_ones(tmp_path: Path) -> None:
    exact = _ok(_recommend(_history(tmp_path, EXACT, "exact.csv")))
    typed = _recommend(_history(tmp_path, TYPED, "typed.csv"))
    assert _ok(typed)["recommendations"] == exact["recommendations"]
    assert _ok(typed)["history"]["rated"] == exact["history"]["rated"] == len(EXACT)
    matched = {entry["given"]: entry["title"] for entry in _ok(typed)["history"]["matched"]}
    assert matched == {typed: title for (typed, _), (title, _) in zip(TYPED, EXACT) if typed != title}
    assert "matched 6 history title(s) to the catalogue: 'the godfather' as 'Godfather, The (1972)'" in \
        typed.stderr.decode()
    # score takes the same file the same way.
    scored = [edgerank("score", "--json", "--model", str(BUNDLE), "--history", history, "Heat (1995)", "Casino (1995)")
              for history in (_history(tmp_path, EXACT, "exact.csv"), _history(tmp_path, TYPED, "typed.csv"))]
    assert _ok(scored[0])["candidates"] == _ok(scored[1])["candidates"]


def test_ambiguous_and_unknown_titles_are_named_with_suggestions(tmp_path: Path) -> None:
    history = _history(tmp_path, [*EXACT[:2], ("Sabrina", 4), ("Alein (1979)", 5)])
    result = _recommend(history)
    report = _ok(result)["history"]
    assert report["rated"] == 2 and report["entries"] == 4
    assert report["ambiguous"] == [{"title": "Sabrina", "did_you_mean": ["Sabrina (1954)", "Sabrina (1995)"]}]
    assert report["unknown"][0]["title"] == "Alein (1979)" and report["unknown"][0]["did_you_mean"][0] == "Alien (1979)"
    stderr = result.stderr.decode()
    assert "'Sabrina' (which one: 'Sabrina (1954)' or 'Sabrina (1995)'?)" in stderr
    assert "'Alein (1979)' (did you mean 'Alien (1979)'" in stderr
    _one_line(_recommend(history, "--strict"), "--strict: 2 history title(s)")
    # Only an ambiguous title: exit 2, not the average user's picks.
    _one_line(_recommend(_history(tmp_path, [("Sabrina", 4)])), "'Sabrina' (which one: 'Sabrina (1954)' or")


def test_a_history_with_no_known_title_is_an_error_unless_allowed(tmp_path: Path) -> None:
    unknown = _history(tmp_path, [("Not A Film (2031)", 4), ("Alein (1979)", 5)])
    _one_line(_recommend(unknown), "none of the 2 history entries")
    _one_line(edgerank("score", "--model", str(BUNDLE), "--history", unknown, "Heat (1995)"),
              "pass --allow-empty-history")
    average = _recommend(unknown, "--allow-empty-history")
    assert _ok(average)["history"]["rated"] == 0 and len(_ok(average)["recommendations"]) == 10
    assert "no history title is known: these are the average user's predictions" in average.stderr.decode()
    empty = tmp_path / "empty.csv"
    empty.write_text("title,rating\n\n")
    _one_line(_recommend(str(empty)), "holds no ratings")
    assert _ok(_recommend(str(empty), "--allow-empty-history"))["history"]["entries"] == 0


def test_titles_rated_twice_are_reported(tmp_path: Path) -> None:
    result = _recommend(_history(tmp_path, [*EXACT, ("fargo", 1)]))
    assert _ok(result)["history"]["repeated"] == [{"title": "Fargo (1996)", "times": 2}]
    assert "'Fargo (1996)' (2 times)" in result.stderr.decode()


def test_recommend_says_when_it_returns_fewer_than_asked(tmp_path: Path) -> None:
    history = _history(tmp_path, EXACT)
    many = edgerank("recommend", "--json", "--model", str(BUNDLE), "--history", history, "--k", "500")
    payload = _ok(many)
    assert payload["k"] == 500 and payload["returned"] == len(payload["recommendations"]) == 300
    assert payload["retrieval"] == {"on_device": True, "requested": 500, "candidates": 300, "recommend_k": 300}
    assert "returning 300 recommendations, not the 500 asked for: the bundle's recommend returns at most 300 " \
           "titles" in many.stderr.decode()
    few = _ok(edgerank("recommend", "--json", "--model", str(BUNDLE), "--history", history, "--k", "5",
                       "--retrieve-k", "3"))
    assert few["retrieval"]["candidates"] == 5 and few["returned"] == 5
    _one_line(edgerank("recommend", "--model", str(BUNDLE), "--history", history, "--k", "0"), "--k must be >= 1")


def test_the_default_model_comes_from_the_environment_or_says_how_to_pass_one(tmp_path: Path) -> None:
    history = _history(tmp_path, EXACT)
    environment = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    environment.pop("EDGERANK_MODEL", None)
    import subprocess
    import sys

    def run(**extra: str):
        return subprocess.run([sys.executable, "-m", "edgerank", "recommend", "--json", "--history", history],
                              capture_output=True, cwd=tmp_path, env={**environment, **extra})

    _one_line(run(), "pass --model FOLDER (a bundle edgerank convert wrote), or set EDGERANK_MODEL=FOLDER")
    assert _ok(run(EDGERANK_MODEL=str(BUNDLE)))["returned"] == 10


# --- hostile history files -----------------------------------------------------------------------------

_ROWS = 200_000
#: Named hostile files: (content, expected exit status, what its line says (exit 2) or None).
BATTERY: dict[str, tuple[bytes, int, str | None]] = {
    "nan rating": (b'"Fargo (1996)",nan\n', 2, "line 1: the rating must be a finite number"),
    "inf rating": (b'"Fargo (1996)",inf\n', 2, "the rating must be a finite number"),
    "1e30 rating": (b'"Fargo (1996)",1e30\n', 2, "outside the model's scale 1-5"),
    "negative rating": (b'"Fargo (1996)",4\n"Heat (1995)",-3\n', 2, "line 2: rating '-3' is outside"),
    "missing rating": (b'"Fargo (1996)",\n', 2, "the rating must be a number"),
    "title only": (b"Fargo (1996)\n", 2, "got 1 field(s)"),
    "three fields": (b"Fargo (1996),4,5\n", 2, "got 3 field(s)"),
    "semicolons": (b"Fargo (1996);4\n", 2, "expected a title and a rating"),
    "binary": (bytes(range(256)) * 4, 2, "is not UTF-8"),
    "NUL byte": (b'"Fargo (1996)",4\n"Heat\x00 (1995)",3\n', 2, "line 2 holds a NUL character"),
    "10 MB line": (b'"' + b"x" * 10_000_000 + b'",4\n', 2, "line 1 is 10,000,004 characters long"),
    "latin-1": ('"Misérables, Les (1995)",4\n'.encode("latin-1"), 2, "is not UTF-8"),
    "UTF-16": ('"Fargo (1996)",4\n'.encode("utf-16"), 2, "is not UTF-8"),
    "empty": (b"", 2, "holds no ratings"),
    "blank lines": (b"\n  \n\t\n", 2, "holds no ratings"),
    "header only": (b"title,rating\n", 2, "holds no ratings"),
    "broken JSON lines": (b'{"title": "Fargo (1996)", "rating": 4}\n{"title": "Heat', 2, "line 2 is not JSON"),
    "JSON line without a rating": (b'{"title": "Fargo (1996)"}\n', 2, "expected {"),
    "JSON title not text": (b'{"title": 5, "rating": 4}\n', 2, "the title must be a string"),
    "JSON boolean rating": (b'{"title": "Fargo (1996)", "rating": true}\n', 2, "the rating must be a number"),
    "broken JSON array": (b'[{"title": "Fargo (1996)", "rating": 4},', 2, "is not JSON"),
    "JSON array of numbers": (b"[1, 2, 3]", 2, "entry 0: expected"),
    "deep JSON": (b"[" * 100_000 + b"]" * 100_000, 2, "nests too deeply"),
    "unterminated quote": (b'"Fargo (1996),4\n"Heat (1995)",3\n', 2, "line 1: a quote opened on this line closes"),
    "control characters": (b'"Far\x07go\x1b[31m (1996)",4\n', 2, "none of the 1 history entries"),
    "200k unknown rows": (b"".join(b'"Film %d (2031)",3\n' % i for i in range(_ROWS)), 2, "none of the 200,000"),
    "200k known rows": (b'"Fargo (1996)",4\n"Heat (1995)",3\n' * (_ROWS // 2), 0, None),
    "JSON array": (b'[{"title": "fargo", "rating": 4}, ["Heat (1995)", 3]]', 0, None),
    "tab-separated": (b"Fargo (1996)\t4\nGodfather, The (1972)\t5\n", 0, None),
    "BOM and CRLF": ('\ufefftitle,rating\r\n"Fargo (1996)",4\r\n'.encode(), 0, None),
}


def _assert_clean_exit(result, expected: int | None = None, message: str | None = None) -> None:
    """Exit 0 with output, or exit 2 with one line on stderr; never a traceback or a signal."""
    stderr = result.stderr.decode(errors="replace")
    assert result.returncode >= 0, f"killed by signal {-result.returncode}"
    assert "Traceback" not in stderr, stderr[-3000:]
    assert result.returncode in (0, 2), (result.returncode, stderr[-3000:])
    if expected is not None:
        assert result.returncode == expected, stderr[-3000:]
    if result.returncode == 2:
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("edgerank "), lines[:5]
        assert message is None or message in lines[0], lines[0][:500]
    else:
        assert result.stdout.strip()


@pytest.mark.parametrize("case", sorted(BATTERY))
def test_hostile_history_files_end_in_one_line(case: str, tmp_path: Path) -> None:
    if case.startswith("200k") and os.environ.get("EDGERANK_EMULATED"):
        pytest.skip("parsing 200,000 rows is the same Python everywhere: 20 s under qemu, 1 s on x86")
    content, expected, message = BATTERY[case]
    path = tmp_path / "history"
    path.write_bytes(content)
    message = message.replace("200,000", f"{_ROWS:,}") if message else None
    _assert_clean_exit(edgerank("recommend", "--model", str(BUNDLE), "--history", str(path), "--k", "3"),
                       expected, message)


def _fuzzed(seed: int) -> bytes:
    """A seeded hostile file: random bytes, random text, a valid file mutated, or encodings mixed."""
    rng = random.Random(seed)
    valid = "".join(f'"{title}",{rating}\n' for title, rating in EXACT).encode()
    kind = seed % 4
    if kind == 0:
        return rng.randbytes(rng.choice([1, 100, 10_000]))
    if kind == 1:
        alphabet = ',"{}[]\t\n\r:0123456789.-eE naif\\\'' + "".join(map(chr, range(0x20, 0x7F)))
        return "".join(rng.choice(alphabet) for _ in range(rng.choice([10, 1000, 50_000]))).encode()
    if kind == 2:
        data = bytearray(valid)
        for _ in range(rng.randint(1, 20)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    return valid + "\"Amélie\",4\n".encode("latin-1") + "\"Fargo (1996)\",5\n".encode("utf-16-le")


@pytest.mark.skipif(bool(os.environ.get("EDGERANK_EMULATED")), reason="a Python start per input: minutes under qemu")
@pytest.mark.parametrize("seed", range(16))
def test_fuzzed_history_files_end_in_exit_0_or_one_line(seed: int, tmp_path: Path) -> None:
    path = tmp_path / "history"
    path.write_bytes(_fuzzed(seed))
    command = ("score", "--k", "3", "Heat (1995)") if seed % 2 else ("recommend", "--k", "3")
    _assert_clean_exit(edgerank(command[0], "--model", str(BUNDLE), "--history", str(path), *command[1:]))
