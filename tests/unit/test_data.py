"""MovieLens loading, record order and the tutorials' split."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ACCENTED_TITLE, MOVIES, RATINGS, USERS
from trainer import data
from trainer.config import SplitConfig


def test_archive_and_folder_load_the_same_columns(synthetic_archive: Path, synthetic_folder: Path) -> None:
    from_zip = data.load_movielens(synthetic_archive)
    from_folder = data.load_movielens(synthetic_folder)
    from_parent = data.load_movielens(synthetic_folder.parent)
    assert set(from_zip.ratings) == set(data.RATING_COLUMNS)
    for name in data.RATING_COLUMNS:
        np.testing.assert_array_equal(from_zip.ratings[name], from_folder.ratings[name])
        np.testing.assert_array_equal(from_zip.ratings[name], from_parent.ratings[name])
    assert len(from_zip.ratings["user_id"]) == RATINGS
    assert len(from_zip.user_ids) == len(np.unique(from_zip.ratings["user_id"])) <= USERS
    assert len(from_zip.unique_movie_titles) == MOVIES
    assert from_zip.ratings["user_rating"].dtype == np.float32
    assert from_zip.ratings["timestamp"].dtype == np.int64


def test_titles_are_decoded_from_iso_8859_1(synthetic_archive: Path) -> None:
    assert ACCENTED_TITLE in data.load_movielens(synthetic_archive).movie_titles


def test_records_come_in_tensorflow_datasets_order(synthetic_folder: Path) -> None:
    # tensorflow-datasets sorts examples by md5("train" + line number).
    lines = (synthetic_folder / "u.data").read_text(encoding="iso-8859-1").splitlines()
    order = sorted(range(len(lines)), key=lambda row: hashlib.md5(f"train{row}".encode()).hexdigest())
    expected = [int(lines[row].split("\t")[3]) for row in order]
    np.testing.assert_array_equal(data.load_movielens(synthetic_folder).ratings["timestamp"], expected)


def test_data_env_variable_is_read(synthetic_archive: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(data.DATA_ENV, str(synthetic_archive))
    assert len(data.load_movielens().ratings["user_id"]) == RATINGS


def test_split_is_seeded_disjoint_and_sized(synthetic_archive: Path) -> None:
    ratings = data.load_movielens(synthetic_archive).ratings
    config = SplitConfig(shuffle_buffer=RATINGS, train_size=800, test_size=200)
    train, test = data.split_ratings(ratings, config)
    again_train, _ = data.split_ratings(ratings, config)
    assert len(train["timestamp"]) == 800 and len(test["timestamp"]) == 200
    # Timestamps are unique per synthetic rating, so they identify records.
    assert not set(train["timestamp"]) & set(test["timestamp"])
    np.testing.assert_array_equal(train["timestamp"], again_train["timestamp"])
    other_seed, _ = data.split_ratings(ratings, SplitConfig(seed=7, shuffle_buffer=RATINGS, train_size=800, test_size=200))
    assert not np.array_equal(train["timestamp"], other_seed["timestamp"])


def test_split_larger_than_the_data_is_refused(synthetic_archive: Path) -> None:
    ratings = data.load_movielens(synthetic_archive).ratings
    with pytest.raises(data.DataError, match="needs 900 \\+ 200 ratings, the data has 1000"):
        data.split_ratings(ratings, SplitConfig(train_size=900, test_size=200))


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(data.DataError, match="not found"):
        data.load_movielens(tmp_path / "nowhere.zip")


def test_a_file_that_is_not_a_zip_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "ml-100k.zip"
    bogus.write_text("not a zip")
    with pytest.raises(data.DataError, match="neither a folder nor a zip"):
        data.load_movielens(bogus)


def test_an_archive_without_ratings_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "other.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("ml-100k/README", "hello")
    with pytest.raises(data.DataError, match="lacks u.data, u.item, u.user or ratings.dat, movies.dat"):
        data.load_movielens(archive)


def test_a_malformed_ratings_line_is_named(synthetic_folder: Path, tmp_path: Path) -> None:
    broken = tmp_path / "ml-100k"
    broken.mkdir()
    for name in ("u.item", "u.user"):
        (broken / name).write_bytes((synthetic_folder / name).read_bytes())
    (broken / "u.data").write_text("1\t1\t5\t880000000\n1\t2\tfive\t880000001\n")
    with pytest.raises(data.DataError, match="u.data line 2"):
        data.load_movielens(broken)


def test_no_path_and_no_network_says_how_to_point_at_the_archive(monkeypatch: pytest.MonkeyPatch) -> None:
    import tensorflow_datasets as tfds

    def offline(*args, **kwargs):
        raise ConnectionError("network unreachable")

    monkeypatch.delenv(data.DATA_ENV, raising=False)
    monkeypatch.setattr(tfds, "load", offline)
    monkeypatch.setattr(data, "_check_reachable", lambda url: None)
    with pytest.raises(data.DataError, match="--data path/to/ml-100k.zip, or set EDGERANK_DATA"):
        data.load_movielens()
