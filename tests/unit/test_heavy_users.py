"""``edgerank bench heavy-users``: a generated log the trainer reads as MovieLens's CSV layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.config import HeavyUsersConfig
from benchmarks.heavy_users import write_heavy_user_log
from interactions import movielens
from trainer.config import ConfigError


def test_the_log_has_the_asked_shape_and_reads_as_movielens(tmp_path: Path) -> None:
    config = HeavyUsersConfig(output_dir=str(tmp_path / "log"), users=40, titles=600, min_history=10,
                              max_history=500)
    written = write_heavy_user_log(config)
    layout, ratings, titles = movielens.read(tmp_path / "log")
    assert layout == "csv" and len(titles) == 600 and len(ratings["user_rating"]) == written["ratings"]
    users, counts = np.unique(ratings["user_id"], return_counts=True)
    assert len(users) == 40 and counts.min() >= 10 and counts.max() <= 500
    assert sum(written["users_by_history"].values()) == 40
    assert written["users_by_history"]["200 or more"] == int((counts >= 200).sum())
    pairs = set(zip(ratings["user_id"].tolist(), ratings["movie_title"].tolist()))
    assert len(pairs) == len(ratings["user_id"])  # no title twice for a user
    values = ratings["user_rating"]
    assert values.min() >= 0.5 and values.max() <= 5.0 and np.all(values * 2 == np.round(values * 2))
    # Popular titles are rated more: the first tenth of the catalogue gets more than a tenth of the ratings.
    first_tenth = np.isin(ratings["movie_title"], titles[:60]).mean()
    assert first_tenth > 0.2
    # The same seed writes the same log.
    again = write_heavy_user_log(HeavyUsersConfig(**{**config.__dict__, "output_dir": str(tmp_path / "again")}))
    assert again["ratings"] == written["ratings"]
    assert (tmp_path / "again" / "ratings.csv").read_bytes() == (tmp_path / "log" / "ratings.csv").read_bytes()


@pytest.mark.parametrize(("changes", "message"), [
    ({"users": 0}, "--users must be at least 1"),
    ({"min_history": 50, "max_history": 20}, r"--min-history \(50\) <= --max-history \(20\)"),
    ({"max_history": 20_000}, r"<= --titles \(10000\)"),
])
def test_impossible_shapes_are_refused_before_writing(tmp_path: Path, changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        write_heavy_user_log(HeavyUsersConfig(output_dir=str(tmp_path / "log"), **changes))
    assert not (tmp_path / "log").exists()
