"""The reference artifacts every integration test reads, made once per test run on the real archive.

Two runs on MovieLens 100K (``$EDGERANK_DATA``), each a session fixture:

* ``tutorial_run`` -> ``build/integration/``: ``edgerank demo --preset tutorial`` (the tutorials'
  models, the four id bundles, the two-stage hand-off, eval with the five folds), then
  ``edge_reference.json``: SavedModel scores the TF-free device suites (``tests/edge``) reproduce.
* ``default_run`` -> ``build/quality/``: ``edgerank demo`` with its defaults (the ``best`` preset: AutoRec,
  the history model and its retrieval, the int8 history bundle), ``edgerank eval`` with the new users,
  the float32 history bundle, then ``history_reference.json``: SavedModel scores of some users' test
  titles from their training histories, for the device suites and the emulated Pis.

Under pytest-xdist each worker is a process of its own: a run is made under a file lock by the first
worker that needs it, and the others read it. Each pytest invocation makes its runs afresh (model
version 1); nothing is reused from an earlier invocation.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build"
TUTORIAL_OUTPUT = BUILD / "integration"
DEFAULT_OUTPUT = BUILD / "quality"
#: Users whose SavedModel scores the device suites reproduce (tests/edge/test_history_bundle.py), on the Pis too.
HISTORY_REFERENCE_USERS = 40
#: Users (42 and 20 drawn) whose id-model scores the device suites reproduce, and one unknown user.
EDGE_REFERENCE_USERS = 20


def edgerank(*args: str, timeout: float = 1500) -> subprocess.CompletedProcess:
    """Runs ``python -m edgerank ARGS`` in a child process; fails the test with its output's end unless it exits 0."""
    result = subprocess.run([sys.executable, "-m", "edgerank", *args], capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def _data() -> str:
    data = os.environ.get("EDGERANK_DATA")
    if not data:
        pytest.fail("set EDGERANK_DATA to ml-100k.zip (make test does)")
    return data


def _once(output: Path, make: Callable[[Path], None]) -> Path:
    """Makes ``output`` with ``make`` unless another worker of this test run already has; returns ``output``."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", f"process {os.getpid()}")
    BUILD.mkdir(exist_ok=True)
    done = BUILD / f".{output.name}.done"
    with open(BUILD / f".{output.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if make fails
        if not (done.is_file() and done.read_text() == run):
            done.unlink(missing_ok=True)
            shutil.rmtree(output, ignore_errors=True)  # a clean run: model version 1
            make(output)
            done.write_text(run)
    return output


def _make_tutorial_run(output: Path) -> None:
    edgerank("demo", "--preset", "tutorial", "--data", _data(), "--output-dir", str(output), timeout=900)
    _write_edge_reference(output)


def _write_edge_reference(output: Path) -> None:
    """SavedModel scores of 100 titles and an unknown one for user 42, 20 drawn users and an unknown user."""
    import trainer  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
    import tensorflow as tf

    from trainer import serving

    serve = tf.saved_model.load(str(serving.resolve(output / "ranking"))).signatures["serving_default"]
    with np.load(output / "data" / "test.npz") as test:
        users, titles = test["user_id"], test["movie_title"]
    rng = np.random.default_rng(0)
    catalogue = np.unique(titles)

    def scores(user: str, candidates: list[str]) -> list[float]:
        return serve(user_id=tf.constant([user] * len(candidates)),
                     movie_title=tf.constant(candidates))["rating"].numpy().tolist()

    requests = []
    for user in ["42", *rng.choice(np.unique(users), EDGE_REFERENCE_USERS, replace=False).tolist()]:
        candidates = rng.choice(catalogue, 100, replace=False).tolist() + ["Not A Real Movie (2031)"]
        requests.append({"user_id": user, "candidates": candidates, "scores": scores(user, candidates)})
    requests.append({"user_id": "no-such-user", "candidates": candidates, "scores": scores("no-such-user", candidates)})
    (output / "edge_reference.json").write_text(json.dumps({"model": str(output / "edge" / "float32"),
                                                            "requests": requests}))


def _make_default_run(output: Path) -> None:
    data = _data()
    demo = edgerank("demo", "--data", data, "--output-dir", str(output))
    (output / "demo.log").write_text(demo.stdout + demo.stderr)
    # What the demo leaves to `edgerank eval`: the new users (it retrains AutoRec without them).
    edgerank("eval", "--artifacts", str(output), "--output-dir", str(output / "eval"), "--no-folds", "--data", data)
    # The float32 history model, against its SavedModel within the stated tolerance.
    edgerank("convert", "--saved-model", str(output / "history"), "--quantize", "none",
             "--output", str(output / "edge" / "history-float32"), "--validation-data",
             str(output / "data" / "test.npz"), "--history-data", str(output / "data" / "train.npz"))
    _write_history_reference(output)


def _write_history_reference(output: Path) -> None:
    """SavedModel scores of ``HISTORY_REFERENCE_USERS`` users' test titles from their training histories."""
    import trainer  # noqa: F401
    import tensorflow as tf

    from interactions import split_files
    from trainer import scoring, serving

    train = split_files.read_split(output / "data" / "train.npz", ("user_id", "movie_title", "user_rating"))
    test = split_files.read_split(output / "data" / "test.npz", ("user_id", "movie_title", "user_rating"))
    histories = scoring.user_histories(train)
    personalize, score = scoring.saved_history_functions(tf.saved_model.load(str(serving.resolve(output / "history"))))
    users = np.random.default_rng(0).choice(np.unique(test["user_id"]), HISTORY_REFERENCE_USERS, replace=False)
    requests = []
    for user in sorted(users.tolist()):
        titles, ratings = histories[user]
        candidates = test["movie_title"][test["user_id"] == user].tolist()
        requests.append({"user_id": user, "history": [[t, float(r)] for t, r in zip(titles, ratings)],
                         "candidates": candidates,
                         "scores": score(personalize(titles, ratings), candidates).tolist()})
    (output / "history_reference.json").write_text(json.dumps({"requests": requests}))


@pytest.fixture(scope="session")
def tutorial_run() -> Path:
    """``build/integration/``: the tutorial preset's demo and ``edge_reference.json`` (see the module docstring)."""
    return _once(TUTORIAL_OUTPUT, _make_tutorial_run)


@pytest.fixture(scope="session")
def default_run() -> Path:
    """``build/quality/``: the default demo, eval with new users, the float32 history bundle and its reference."""
    return _once(DEFAULT_OUTPUT, _make_default_run)
