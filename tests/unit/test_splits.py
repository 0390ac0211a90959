"""The split files ``edgerank train`` hands to the converter and the benchmarks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from interactions import split_files


def test_a_split_file_round_trips(tmp_path: Path) -> None:
    columns = {"user_id": np.array(["1", "2"]), "movie_title": np.array(["A (1990)", "Misérables, Les (1995)"]),
               "user_rating": np.array([4.0, 2.5]), "timestamp": np.array([1, 2])}
    split_files.write_split(tmp_path / "data" / "test.npz", columns)
    read = split_files.read_split(tmp_path / "data" / "test.npz")
    assert list(read) == list(split_files.SPLIT_COLUMNS)  # only the split's columns travel
    assert read["movie_title"].tolist() == ["A (1990)", "Misérables, Les (1995)"]
    assert read["user_rating"].dtype == np.float32 and read["user_rating"].tolist() == [4.0, 2.5]
    assert list(split_files.read_split(tmp_path / "data" / "test.npz", ("user_id",))) == ["user_id"]


@pytest.mark.parametrize("columns, message", [
    ({"user_id": np.array(["1"])}, "unusable .*columns user_id, movie_title, user_rating"),
    ({"user_id": np.array(["1", "2"]), "movie_title": np.array(["A"]), "user_rating": np.array([1.0])},
     "must be equal, non-empty 1-D arrays"),
    ({"user_id": np.array([], str), "movie_title": np.array([], str), "user_rating": np.array([])},
     "must be equal, non-empty 1-D arrays"),
])
def test_a_bad_split_file_is_named(tmp_path: Path, columns: dict, message: str) -> None:
    path = tmp_path / "test.npz"
    np.savez(path, **columns)
    with pytest.raises(split_files.SplitFileError, match=f"validation data {path}.*{message}"):
        split_files.read_split(path, what="validation data")


def test_a_missing_split_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(split_files.SplitFileError, match="split file .*nowhere.npz is unusable"):
        split_files.read_split(tmp_path / "nowhere.npz")
