"""The README's Python snippet ("On a device"), run as written on the history bundle, in this runtime.

It must run (no undefined names), return what its comments say, and print
nothing: the library is quiet by default (``edge_runtime.backend.native_logs_hidden``).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.edge.conftest import ARTIFACTS, EXPECTED_BACKEND

README = Path(__file__).resolve().parents[2] / "README.md"
BUNDLE = ARTIFACTS.parent / "quality" / "edge" / "history-int8"
#: The path the README's snippet names, replaced by the bundle under test.
README_BUNDLE = "artifacts/edge/history-int8"

pytestmark = pytest.mark.skipif(not BUNDLE.is_dir() and not EXPECTED_BACKEND,
                                reason=f"{BUNDLE} is missing: tests/integration/test_model_quality.py writes it")


def readme_snippet() -> str:
    """The first Python block under the README's "On a device" heading."""
    section = README.read_text(encoding="utf-8").split("\n## On a device\n", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_snippet_runs_quietly_and_does_what_it_says() -> None:
    snippet = readme_snippet()
    assert README_BUNDLE in snippet
    checks = """
assert scores.dtype.name == "float32" and scores.shape == (2,)
assert len(best) == 2 and best[0].score >= best[1].score
assert len(picks.candidates) == 10 and not {"Star Wars (1977)", "Fargo (1996)"} & {c.movie_title for c in picks.candidates}
assert match.title == "Godfather, The (1972)"
print("ok")
"""
    program = snippet.replace(README_BUNDLE, str(BUNDLE)) + checks
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\n" and result.stderr == "", result.stderr
