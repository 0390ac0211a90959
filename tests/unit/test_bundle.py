"""``edgerank bundle``: verified copies, the Android layout, and writes that survive a kill."""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from converters.bundle import ANDROID_ASSET_DIR, copy_bundle
from edge_runtime import EdgeRanker, ModelError, manifest
from tests.conftest import assert_matches_schema

BUNDLE_FILES = ["manifest.json", "ranker.tflite", "titles.txt"]


def _state(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def _edgerank(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgerank", *args], capture_output=True, text=True)


def test_a_copy_is_a_complete_verified_bundle(bundles: dict[str, Path], tmp_path: Path) -> None:
    copy = copy_bundle(bundles["int8"], tmp_path / "copy")
    assert sorted(p.name for p in copy.iterdir()) == BUNDLE_FILES
    original, copied = (assert_matches_schema(b / "manifest.json", "manifest") for b in (bundles["int8"], copy))
    assert {k: v for k, v in copied.items() if k != "created"} == {k: v for k, v in original.items() if k != "created"}
    ranker = EdgeRanker(copy)
    assert ranker.titles() == EdgeRanker(bundles["int8"]).titles() and len(ranker.titles()) == 40
    assert manifest.sha256_hex((copy / "ranker.tflite").read_bytes()) == copied["sha256"]
    # The manifest describes the model as an app needs it.
    assert {"name", "version", "signature", "architecture", "out_of_vocabulary", "quantization", "runtime",
            "metrics", "training", "titles", "created"} <= set(copied)
    assert copied["architecture"]["user_vocabulary"] == 30 and copied["architecture"]["title_vocabulary"] == 40
    assert copied["titles"] == {"file": "titles.txt", "count": 40}


def test_android_layout_keeps_other_assets_and_prints_kotlin(bundles: dict[str, Path], tmp_path: Path) -> None:
    assets = tmp_path / "app" / "src" / "main" / "assets"
    (assets / "fonts").mkdir(parents=True)
    (assets / "fonts" / "a.ttf").write_bytes(b"font")
    result = _edgerank("bundle", "--model", str(bundles["none"]), "--out", str(assets), "--android")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (assets / ANDROID_ASSET_DIR).iterdir()) == BUNDLE_FILES
    assert (assets / "fonts" / "a.ttf").read_bytes() == b"font"
    for line in ('Interpreter(model', 'runSignature(inputs, outputs, "score")', f'"{ANDROID_ASSET_DIR}/ranker.tflite"',
                 'noCompress += "tflite"', '"user_id" to arrayOf(userId)', 'MessageDigest.getInstance("SHA-256")'):
        assert line in result.stdout, line
    assert EdgeRanker(assets / ANDROID_ASSET_DIR).score("3", ["Synthetic Movie 1 (1951)"]).shape == (1,)


@pytest.mark.parametrize("damage", ["model", "titles"])
def test_a_tampered_bundle_is_refused_and_nothing_is_written(bundles: dict[str, Path], tmp_path: Path,
                                                             damage: str) -> None:
    source = tmp_path / "source"
    shutil.copytree(bundles["none"], source)
    if damage == "model":
        data = bytearray((source / "ranker.tflite").read_bytes())
        data[len(data) // 2] ^= 0xFF
        (source / "ranker.tflite").write_bytes(bytes(data))
        message = "does not match its manifest"
    else:
        with open(source / "titles.txt", "a", encoding="utf-8") as handle:
            handle.write("Injected (2030)\n")
        message = "41 titles, the manifest says 40"
    result = _edgerank("bundle", "--model", str(source), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
    with pytest.raises(ModelError, match=message):
        EdgeRanker(source).titles()


# Runs `edgerank bundle` and kills it (SIGKILL) at its N-th file-system step: a write, sync, rename,
# exchange or removal.
KILL_AT_STEP = """
import os, shutil, signal, sys
from pathlib import Path
from edge_runtime import atomic
from edgerank.cli import main

step, steps = int(sys.argv[1]), []
def counted(function):
    def wrapper(*args, **kwargs):
        steps.append(function.__name__)
        if len(steps) == step:
            os.kill(os.getpid(), signal.SIGKILL)
        return function(*args, **kwargs)
    return wrapper
for module, name in [(os, "fsync"), (os, "rename"), (os, "replace"), (shutil, "rmtree"), (atomic, "_exchange")]:
    setattr(module, name, counted(getattr(module, name)))
Path.write_bytes, Path.write_text = counted(Path.write_bytes), counted(Path.write_text)
sys.exit(main(["bundle", "--model", sys.argv[2], "--out", sys.argv[3]]))
"""


def _which(out: Path, old: dict[str, bytes], new_source: Path) -> str:
    """``"old"`` or ``"new"``: what ``out`` holds; fails on anything else (a mix, a partial or missing bundle)."""
    state = _state(out)
    if state == old:
        return "old"
    expected = _state(new_source)
    assert sorted(state) == BUNDLE_FILES, sorted(state)
    assert state["ranker.tflite"] == expected["ranker.tflite"] and state["titles.txt"] == expected["titles.txt"]
    written, source = json.loads(state["manifest.json"]), json.loads(expected["manifest.json"])
    assert {k: v for k, v in written.items() if k != "created"} == {k: v for k, v in source.items() if k != "created"}
    EdgeRanker(out)  # and it verifies
    return "new"


def test_a_bundle_killed_at_any_step_is_the_old_or_the_new_one(bundles: dict[str, Path], tmp_path: Path) -> None:
    out, new_source = tmp_path / "bundle", bundles["int8"]
    outcomes, step = [], 1
    while step < 100:
        copy_bundle(bundles["none"], out)
        old = _state(out)
        result = subprocess.run([sys.executable, "-c", KILL_AT_STEP, str(step), str(new_source), str(out)],
                                capture_output=True, text=True)
        outcomes.append(_which(out, old, new_source))
        if result.returncode == 0:  # finished before its step-th operation: every step has been a kill point
            break
        assert result.returncode == -signal.SIGKILL, result.stderr
        step += 1
    assert step >= 8 and outcomes[0] == "old" and outcomes[-1] == "new", outcomes
    # A later write clears what killed writers left behind.
    copy_bundle(bundles["none"], out)
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]


def test_a_bundle_killed_at_random_moments_is_the_old_or_the_new_one(bundles: dict[str, Path],
                                                                     tmp_path: Path) -> None:
    out, new_source = tmp_path / "bundle", bundles["int8"]
    command = [sys.executable, "-m", "edgerank", "bundle", "--model", str(new_source), "--out", str(out)]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    duration = time.perf_counter() - started
    rng = random.Random(0)
    outcomes = []
    for _ in range(12):
        copy_bundle(bundles["none"], out)
        old = _state(out)
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.5, 1.1) * duration)
        process.send_signal(signal.SIGKILL)
        process.wait()
        outcomes.append(_which(out, old, new_source))
    assert set(outcomes) <= {"old", "new"}


def test_display_names_travel_with_the_bundle_and_a_damaged_names_file_is_refused(bundles: dict[str, Path],
                                                                                 tmp_path: Path) -> None:
    from converters.bundle import COMPUTED_FIELDS, write_bundle

    source = manifest.load_model(bundles["int8"])
    titles = manifest.read_titles(source)
    names = [f"Name of {title}" if index % 2 else "" for index, title in enumerate(titles)]
    fields = {key: value for key, value in source.manifest.items() if key not in COMPUTED_FIELDS}
    named = write_bundle(tmp_path / "named", source.content, fields, titles, names)
    copy = copy_bundle(named, tmp_path / "copy")  # a copy keeps them
    for folder in (named, copy):
        ranker = EdgeRanker(folder)
        assert ranker.names() == names and json.loads((folder / "manifest.json").read_text())["names"] == {
            "file": "names.txt", "count": len(titles)}
        assert ranker.catalogue().display(titles[1]) == f"Name of {titles[1]}"
        assert ranker.catalogue().match(f"name of {titles[1]}").title == titles[1]
    assert EdgeRanker(bundles["int8"]).names() is None  # MovieLens: the titles are the names
    (copy / "names.txt").write_text("one name\n", encoding="utf-8")
    with pytest.raises(ModelError, match="names.txt has 1 names, the manifest says 40"):
        EdgeRanker(copy).names()
