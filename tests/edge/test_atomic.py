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
