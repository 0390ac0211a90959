"""The split files ``edgerank train`` hands to the next stages.

``data/train.npz`` and ``data/test.npz`` under the artifacts folder: NumPy
``.npz`` archives (no pickled objects) of equal-length, non-empty 1-D columns,
one row per rating::

    user_id      str      the user
    movie_title  str      the title rated
    user_rating  float32  the rating

The converter calibrates int8 on the first and validates on the second; the
benchmarks draw their requests and compute RMSE from the second. NumPy only, so
the benchmark workers read them without TensorFlow.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from edge_runtime import atomic
from edge_runtime.errors import EdgeRankError
from interactions.schema import Columns

#: The columns of a split file.
SPLIT_COLUMNS = ("user_id", "movie_title", "user_rating")


class SplitFileError(EdgeRankError):
    """A split file is missing, unreadable, lacks a column, or holds columns of unequal length."""


def write_split(path: str | os.PathLike[str], columns: Columns) -> None:
    """Writes ``columns``' ``SPLIT_COLUMNS`` to ``path`` atomically."""
    buffer = io.BytesIO()
    np.savez(buffer, **{name: columns[name] for name in SPLIT_COLUMNS})
    atomic.write_bytes(path, buffer.getvalue())


def read_split(path: str | os.PathLike[str], columns: tuple[str, ...] = SPLIT_COLUMNS,
               what: str = "split file") -> Columns:
    """Reads ``columns`` of a split file.

    Args:
        path: The ``.npz``.
        columns: The columns wanted.
        what: What the caller calls the file, for messages ("validation data").

    Returns:
        ``{column: array}``: strings as ``str`` arrays, numbers as float32.

    Raises:
        SplitFileError: Naming the file and what is wrong with it.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            values = {name: data[name] for name in columns}
    except (OSError, ValueError, KeyError) as error:
        raise SplitFileError(
            f"{what} {path} is unusable ({error}); it must be an .npz with columns {', '.join(columns)}, "
            "as `edgerank train` writes under data/"
        ) from error
    shapes = {array.shape for array in values.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 1 or next(iter(shapes))[0] == 0:
        raise SplitFileError(f"{what} {path}: columns {', '.join(columns)} must be equal, non-empty 1-D arrays")
    return {name: array.astype(np.str_) if array.dtype.kind in "OSU" else array.astype(np.float32)
            for name, array in values.items()}
