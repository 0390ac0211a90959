"""The TensorFlow Serving layout: ``<model>/<version>/saved_model.pb``.

Each model the trainer exports goes into a numbered folder under its base
(``artifacts/ranking/1/``, ``artifacts/ranking/2/``, …); TensorFlow Serving
serves the highest version and picks up a new one when it appears. Beside the
SavedModel, ``assets.extra/`` (ignored by TensorFlow Serving, kept with the
version) holds what later stages need about the model:

* ``edgerank.json``: name, version, creation time, the training data's
  fingerprint, test metrics, vocabulary sizes and the architecture
  (which model, its embedding sizes and dense kernel shapes).
* ``titles.txt``: the model's title vocabulary, one a line (the catalogue an
  app shows; the converters copy it into the edge bundle).
* ``names.txt``: where the log came with an items file, each item's display
  name on the line of its id in ``titles.txt`` (copied into the bundle too).

Standard library only: converters and benchmarks resolve versions with it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from edge_runtime.contract import NAMES_FILE, TITLES_FILE, utc_timestamp
from edge_runtime.errors import EdgeRankError

#: Where the extra files live inside a version folder (TensorFlow Serving's convention).
EXTRA_DIR = "assets.extra"
MODEL_INFO = "edgerank.json"


class ServingLayoutError(EdgeRankError):
    """The path is neither a SavedModel nor a base folder of numbered versions."""


def versions(base: str | os.PathLike[str]) -> list[int]:
    """Version numbers present under ``base`` (folders named by an integer holding a SavedModel), ascending."""
    base = Path(base)
    if not base.is_dir():
        return []
    return sorted(int(p.name) for p in base.iterdir()
                  if p.name.isdigit() and (p / "saved_model.pb").is_file())


def next_version(base: str | os.PathLike[str]) -> int:
    """The version a new export under ``base`` gets: one past the highest present, 1 for the first."""
    present = versions(base)
    return present[-1] + 1 if present else 1


def resolve(path: str | os.PathLike[str]) -> Path:
    """A SavedModel folder from ``path``: itself if it is one, else its highest version.

    Raises:
        ServingLayoutError: ``path`` is neither.
    """
    path = Path(path)
    if (path / "saved_model.pb").is_file():
        return path
    present = versions(path)
    if not present:
        raise ServingLayoutError(
            f"{path} is neither a SavedModel nor a folder of numbered SavedModel versions; run `edgerank train` first"
        )
    return path / str(present[-1])


def write_extras(version_dir: str | os.PathLike[str], info: dict, titles: list[str],
                 names: list[str] | None = None) -> None:
    """Writes ``assets.extra/edgerank.json``, ``titles.txt`` and ``names.txt`` into a version folder being exported.

    Args:
        version_dir: The (temporary) version folder holding the SavedModel.
        info: The model facts (see the module docstring); ``created`` is stamped here.
        titles: The title vocabulary, in vocabulary order.
        names: Each title's display name, in the same order (empty: none); ``None``: no names file.
    """
    extra = Path(version_dir) / EXTRA_DIR
    extra.mkdir(exist_ok=True)
    info = {**info, "created": utc_timestamp()}
    (extra / MODEL_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    (extra / TITLES_FILE).write_text("".join(f"{title}\n" for title in titles), encoding="utf-8")
    if names is not None:
        (extra / NAMES_FILE).write_text("".join(f"{one_line(name)}\n" for name in names), encoding="utf-8")


def read_info(saved_model: str | os.PathLike[str]) -> dict:
    """``assets.extra/edgerank.json`` of a resolved SavedModel folder.

    Raises:
        ServingLayoutError: The file is missing or not JSON (not an EdgeRank export).
    """
    path = Path(saved_model) / EXTRA_DIR / MODEL_INFO
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ServingLayoutError(f"cannot read {path} ({error}): not a SavedModel exported by `edgerank train`") from error


def read_titles(saved_model: str | os.PathLike[str]) -> list[str]:
    """The title vocabulary ``write_extras`` saved beside a resolved SavedModel folder, in vocabulary order."""
    return (Path(saved_model) / EXTRA_DIR / TITLES_FILE).read_text(encoding="utf-8").splitlines()


def read_names(saved_model: str | os.PathLike[str]) -> list[str] | None:
    """The display names ``write_extras`` saved (aligned with ``read_titles``), or ``None`` without an items file."""
    path = Path(saved_model) / EXTRA_DIR / NAMES_FILE
    return path.read_text(encoding="utf-8").split("\n")[:-1] if path.is_file() else None


def one_line(name: str) -> str:
    """A display name as one line of a names file: line breaks and tabs become spaces."""
    breaks = "\r\n\t\v\f\x1c\x1d\x1e\x85\u2028\u2029"  # what str.splitlines (and a tab-separated reader) splits on
    return " ".join(name.split()) if any(character in name for character in breaks) else name
