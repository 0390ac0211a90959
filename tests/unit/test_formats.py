"""The MovieLens family's layouts (1M's ``::`` files, 20M/25M/latest-small CSV), on synthetic archives.

Only 100K is on these machines; the other layouts are written here from the
GroupLens READMEs: same ratings, other files, half stars for the CSV family.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import MOVIES, USERS, movie_title, zip_folder
from interactions import movielens
from trainer import data
from interactions.schema import LogConfig
from trainer.config import RankingConfig, RetrievalConfig, TrainConfig

TITLE_WITH_COMMA = "American President, The (1995)"


def _ratings(half_stars: bool, seed: int = 0) -> list[tuple[int, int, float, int]]:
    rng = np.random.default_rng(seed)
    users, movies = rng.normal(size=(USERS, 3)), rng.normal(size=(MOVIES, 3))
    rows = []
    for pair in rng.choice(USERS * MOVIES, size=1000, replace=False):
        user, movie = divmod(int(pair), MOVIES)
        raw = 3 + users[user] @ movies[movie] + rng.normal(0, 0.3)
        rating = float(np.clip(np.rint(raw * 2) / 2, 0.5, 5)) if half_stars else float(np.clip(np.rint(raw), 1, 5))
        rows.append((user + 1, movie + 1, rating, 1_000_000_000 + int(pair)))
    return rows


def _title(movie: int) -> str:
    return TITLE_WITH_COMMA if movie == 3 else movie_title(movie)


def write_1m(folder: Path) -> Path:
    root = folder / "ml-1m"
    root.mkdir(parents=True)
    (root / "ratings.dat").write_text("".join(f"{u}::{m}::{int(r)}::{t}\n" for u, m, r, t in _ratings(False)),
                                      encoding="iso-8859-1")
    (root / "movies.dat").write_text("".join(f"{m}::{_title(m)}::Comedy|Drama\n" for m in range(1, MOVIES + 1)),
                                     encoding="iso-8859-1")
    (root / "users.dat").write_text("".join(f"{u}::{'MF'[u % 2]}::25::{u % 21}::{10000 + u}\n"
                                            for u in range(1, USERS + 1)), encoding="iso-8859-1")
    return root


def write_csv(folder: Path, name: str = "ml-latest-small") -> Path:
    root = folder / name
    root.mkdir(parents=True)
    lines = ["userId,movieId,rating,timestamp"] + [f"{u},{m},{r},{t}" for u, m, r, t in _ratings(True)]
    (root / "ratings.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    movies = io.StringIO()
    writer = csv.writer(movies, lineterminator="\n")
    writer.writerow(["movieId", "title", "genres"])
    writer.writerows([m, _title(m), "Comedy|Drama"] for m in range(1, MOVIES + 1))
    (root / "movies.csv").write_text(movies.getvalue(), encoding="utf-8")
    return root


@pytest.mark.parametrize("writer, layout", [(write_1m, "1m"), (write_csv, "csv")])
def test_each_layout_is_detected_and_reads_the_tfds_columns(tmp_path: Path, writer, layout: str) -> None:
    root = writer(tmp_path / "folder")
    archive = zip_folder(root, tmp_path / "archive.zip")
    for path in (root, root.parent, archive):
        found, ratings, titles = movielens.read(path)
        assert found == layout
        assert set(ratings) == set(data.RATING_COLUMNS)
        assert all(len(column) == 1000 for column in ratings.values())
        assert len(titles) == MOVIES and TITLE_WITH_COMMA in titles
    first_user, first_movie, first_rating, _ = _ratings(layout == "csv")[0]
    assert ratings["user_id"][0] == str(first_user) and ratings["movie_title"][0] == _title(first_movie)
    assert ratings["user_rating"][0] == first_rating
    if layout == "1m":
        user = int(ratings["user_id"][0])
        assert ratings["user_occupation_text"][0] == movielens.OCCUPATIONS_1M[user % 21]
        assert ratings["raw_user_age"][0] == 25 and ratings["user_gender"][0] == (user % 2 == 0)  # "M" for even ids
    else:
        assert set(np.unique(ratings["user_rating"] % 1)) == {0.0, 0.5}  # half stars survive


def test_split_sizes_come_from_the_data(tmp_path: Path) -> None:
    movielens = data.load_movielens(write_csv(tmp_path))
    train, test = data.split_ratings(movielens.ratings, TrainConfig().split)
    assert (len(train["user_id"]), len(test["user_id"])) == (800, 200)


def test_the_pipeline_runs_on_a_half_star_dataset_unchanged(tmp_path: Path) -> None:
    import tensorflow as tf

    from trainer import serving
    from trainer.pipeline import train

    output = tmp_path / "artifacts"
    metrics = train(TrainConfig(
        log=LogConfig(data=str(write_csv(tmp_path))), output_dir=str(output),
        ranking=RankingConfig(model="autorec", autorec_hidden_units=16, autorec_max_epochs=300, autorec_patience=100,
                              autorec_learning_rate=0.01, autorec_l2=1.0),
        retrieval=RetrievalConfig(batch_size=128, eval_batch_size=200, epochs=1, embedding_dim=8)), verbose=0)
    assert metrics["data"]["train"] == 800 and metrics["data"]["titles"] == MOVIES
    ranker = tf.saved_model.load(str(serving.resolve(output / "ranking"))).signatures["serving_default"]
    scored = ranker(user_id=tf.constant(["1"] * MOVIES), movie_title=tf.constant([_title(m) for m in range(1, 41)]))
    ratings = scored["rating"].numpy()
    assert ratings.min() >= 0.5 and ratings.max() <= 5.0  # the data's scale, not 1–5
    train_split, test_split = (np.load(output / "data" / f"{name}.npz") for name in ("train", "test"))
    global_mean = np.sqrt(np.mean((test_split["user_rating"] - train_split["user_rating"].mean()) ** 2))
    assert json.loads((output / "metrics.json").read_text())["ranking"]["rmse"] < global_mean


def test_a_malformed_csv_line_is_named(tmp_path: Path) -> None:
    root = write_csv(tmp_path)
    lines = (root / "ratings.csv").read_text().splitlines()
    lines[2] = lines[2].rsplit(",", 2)[0] + ",four,1000000000"
    (root / "ratings.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(data.DataError, match="ratings.csv line 3"):
        data.load_movielens(root)


def test_ratings_of_unknown_movies_stop_the_load_or_are_skipped_and_counted(tmp_path: Path, synthetic_folder: Path,
                                                                          caplog) -> None:
    root = tmp_path / "ml-100k"
    import shutil

    shutil.copytree(synthetic_folder, root)
    lines = (root / "u.data").read_text(encoding="iso-8859-1").splitlines()
    stray = [f"1\t{MOVIES + 1}\t4\t880000000", f"999\t1\t3\t880000001"]  # an unknown movie, an unknown user
    lines[4:4] = stray
    (root / "u.data").write_text("\n".join(lines) + "\n", encoding="iso-8859-1")
    with pytest.raises(data.DataError, match=r"u.data line 5: unknown user '1' or movie '41' \(2 such rows; "
                                             r"--skip-bad-rows drops them\)"):
        data.load_movielens(root)
    with caplog.at_level("WARNING"):
        movielens = data.load_movielens(root, skip_bad_rows=True)
    assert len(movielens.ratings["user_id"]) == len(lines) - 2
    assert "skipped 2 of 1002 ratings" in caplog.text and "line 6 (user '999', movie '1')" in caplog.text
    # A malformed line stays an error, skipping or not.
    lines[10] = "3\t4\tfour\t880000002"
    (root / "u.data").write_text("\n".join(lines) + "\n", encoding="iso-8859-1")
    for skip in (False, True):
        with pytest.raises(data.DataError, match="u.data line 11"):
            data.load_movielens(root, skip_bad_rows=skip)


def test_a_folder_of_no_known_layout_names_every_layout(tmp_path: Path) -> None:
    (tmp_path / "ratings.txt").write_text("1 2 3\n")
    with pytest.raises(data.DataError, match="lacks u.data, u.item, u.user or ratings.dat"):
        data.load_movielens(tmp_path)
