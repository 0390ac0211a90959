"""Atomic writes survive a power cut: the file or folder is synced, then the folder that names it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from edge_runtime import atomic


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths ``os.fsync`` is called on, in order (Linux: read from /proc/self/fd)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc/self/fd")
    calls: list[str] = []
    real = os.fsync

    def recording(fd: int) -> None:
        calls.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", recording)
    return calls


def test_a_file_is_synced_then_its_folder(tmp_path: Path, synced: list[str]) -> None:
    target = tmp_path / "models" / "manifest.json"
    atomic.write_bytes(target, b"{}")
    assert target.read_bytes() == b"{}"
    # The data first (in its temporary sibling), then the folder holding the renamed entry.
    assert synced[-1] == str(target.parent) and len(synced) == 2


def test_a_replaced_folder_is_followed_by_a_synced_parent(tmp_path: Path, synced: list[str]) -> None:
    target = tmp_path / "edge" / "int8"
    for content in (b"old", b"new"):  # a new folder, then an exchange with the existing one
        with atomic.directory(target) as folder:
            (folder / "ranker.tflite").write_bytes(content)
        assert synced[-1] == str(target.parent)
    assert (target / "ranker.tflite").read_bytes() == b"new"


def test_the_replaced_folder_can_be_kept_for_a_roll_back(tmp_path: Path) -> None:
    target, previous = tmp_path / "edge" / "int8", tmp_path / "edge" / "int8.previous"
    for generation in (b"1", b"2", b"3"):
        with atomic.directory(target, keep_previous=previous) as folder:
            (folder / "ranker.tflite").write_bytes(generation)
    assert (target / "ranker.tflite").read_bytes() == b"3" and (previous / "ranker.tflite").read_bytes() == b"2"
    with pytest.raises(RuntimeError), atomic.directory(target, keep_previous=previous) as folder:
        (folder / "ranker.tflite").write_bytes(b"refused")
        raise RuntimeError("validation failed")
    assert (target / "ranker.tflite").read_bytes() == b"3" and (previous / "ranker.tflite").read_bytes() == b"2"
    assert sorted(p.name for p in target.parent.iterdir()) == ["int8", "int8.previous"]
