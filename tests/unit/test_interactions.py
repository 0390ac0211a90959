"""The data layer (``interactions``): any log read, bad rows named, duplicates merged, splits; no TensorFlow."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from interactions import holdout, metrics
from interactions.log import read_log
from interactions.schema import DataError, LogConfig

ROOT = Path(__file__).resolve().parents[2]

# Every interactions module imported in a fresh process where TensorFlow and the other packages cannot be found.
IMPORT_EVERY_MODULE = """
import importlib, importlib.abc, json, pkgutil, sys
blocked = {"tensorflow", "tf_keras", "keras", "tensorflow_recommenders", "scann", "trainer", "converters",
           "benchmarks", "edgerank"}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"{name} is blocked", name=name)
sys.meta_path.insert(0, Block())
import interactions
names = [f"interactions.{m.name}" for m in pkgutil.iter_modules(interactions.__path__)]
for name in names:
    importlib.import_module(name)
print(json.dumps(names))
"""


def test_the_data_layer_imports_without_tensorflow_or_the_trainer() -> None:
    result = subprocess.run([sys.executable, "-c", IMPORT_EVERY_MODULE], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert set(json.loads(result.stdout)) >= {"interactions.log", "interactions.tables", "interactions.schema",
                                              "interactions.holdout", "interactions.metrics"}


WITHOUT_PYARROW = """
import sys
class NoPyarrow:
    def find_spec(self, name, path, target=None):
        if name.partition(".")[0] == "pyarrow":
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, NoPyarrow())
import benchmarks.worker
import edgerank.cli
"""


def test_the_device_cli_and_benchmark_worker_import_without_pyarrow() -> None:
    """Both run in the device runtimes' environments (``ai-edge-litert``, ``tflite-runtime``), which have no pyarrow."""
    result = subprocess.run([sys.executable, "-c", WITHOUT_PYARROW], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr


def _log(path: Path, **flags: str | bool) -> tuple:
    log = read_log(LogConfig(data=str(path), **flags))
    return log, {name: values.tolist() for name, values in log.ratings.items()}


def test_renamed_semicolon_columns_train_with_the_flags_alone(tmp_path: Path) -> None:
    path = tmp_path / "stars.csv"
    path.write_text("uid;iid;stars;ts\nu1;a;3.5;100\nu2;b;0.5;200\nu1;a;4;300\nu1;c;2;50\n")
    log, columns = _log(path, user_column="uid", item_column="iid", rating_column="stars", time_column="ts")
    # The repeated (u1, a): the latest rating (time 300) kept, at the pair's first place.
    assert columns == {"user_id": ["u1", "u2", "u1"], "movie_title": ["a", "b", "c"],
                       "user_rating": [4.0, 0.5, 2.0], "timestamp": [300, 200, 50]}
    schema = log.schema
    assert (schema.feedback, schema.delimiter, schema.header, schema.value_range) == ("explicit", ";", True, (0.5, 4.0))
    assert (schema.rows, schema.interactions, schema.duplicates, schema.users, schema.items) == (4, 3, 1, 2, 3)
    assert "1 repeated (user, item) rows merged, the latest rating kept" in schema.summary()


def test_implicit_weights_are_summed_and_a_log_without_weights_counts_rows(tmp_path: Path) -> None:
    path = tmp_path / "plays.tsv"
    path.write_text("user\titem\tplays\nx\tsong1\t3\nx\tsong2\t1\nx\tsong1\t4\ny\tsong2\t0\n")
    log, columns = _log(path, user_column="user", item_column="item", weight_column="plays")
    assert columns["user_rating"] == [7.0, 1.0] and columns["movie_title"] == ["song1", "song2"]
    assert log.schema.implicit and log.schema.duplicates == 1 and log.schema.skipped == {"weight 0": 1}
    _, counted = _log(path, user_column="user", item_column="item")
    assert counted["user_rating"] == [2.0, 1.0, 1.0] and counted["user_id"] == ["x", "x", "y"]


def test_a_file_without_a_header_names_columns_by_position_and_the_items_file_names_items(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    log_path, items = tmp_path / "log.dat", tmp_path / "items.dat"
    log_path.write_text("7\t1\t10\n8\t2\t5\n7\t2\t1\n7\t4\t1\n")
    items.write_text("1\tMALICE MIZER\thttp://a\n2\tDiary of Dreams\thttp://b\n3\tNever played\thttp://c\n"
                     "4\tA name\twith a tab\thttp://d\n")
    log, columns = _log(log_path, user_column="1", item_column="2", weight_column="3", items=str(items),
                        item_id_column="1", item_name_column="2")
    # The broken row of the items file is named, and its item shows its id.
    assert "items.dat: 1 rows skipped (the first: line 4, 4 fields, not 3); their items show their ids" in caplog.text
    assert not log.schema.header and log.schema.delimiter == "\t"
    assert log.names == {"1": "MALICE MIZER", "2": "Diary of Dreams"} and log.schema.named_items == 2
    assert columns["user_rating"] == [10.0, 5.0, 1.0, 1.0]


def test_parquet_and_json_lines_read_the_same_log(tmp_path: Path) -> None:
    rows = {"user": [1, 1, 2], "item": ["a", "b", "a"], "rating": [1.0, 9.5, 10.0]}
    pq.write_table(pa.table(rows), tmp_path / "log.parquet")
    (tmp_path / "log.jsonl").write_text("".join(json.dumps(dict(zip(rows, values))) + "\n"
                                                for values in zip(*rows.values())))
    read = [_log(tmp_path / name, user_column="user", item_column="item", rating_column="rating")
            for name in ("log.parquet", "log.jsonl")]
    assert read[0][1] == read[1][1] and read[0][1]["user_id"] == ["1", "1", "2"]
    assert read[0][0].schema.value_range == (1.0, 10.0) and read[0][0].schema.format == "parquet"


def test_a_folder_of_parts_is_one_log(tmp_path: Path) -> None:
    for part, lines in (("part-1.csv", "u,i\na,x\n"), ("part-2.csv", "u,i\nb,y\na,y\n")):
        (tmp_path / part).write_text(lines)
    log, columns = _log(tmp_path, user_column="u", item_column="i")
    assert columns["user_id"] == ["a", "b", "a"] and log.schema.format == "csv folder"


#: The README's table of bad data: each row's case, as a file and its flags (the row's message is checked below).
BAD_DATA = {
    "a missing column": ("user,item,count\na,x,3\n", {"weight_column": "plays"}),
    "a rating that is not a number": ("user,item,rating\na,x,4\nb,x,five\n", {"rating_column": "rating"}),
    "a negative weight": ("user,item,plays\na,x,3\nb,x,-2\n", {"weight_column": "plays"}),
    "a NaN weight": ("user,item,plays\na,x,3\nb,y,2\nc,x,nan\n", {"weight_column": "plays"}),
    "an empty file": ("", {}),
    "a wrong delimiter": ("user;item;plays\na;x;3\n", {"weight_column": "plays", "delimiter": ","}),
    "a row of the wrong length": ("user,item,plays\na,x,3\nb,y\n", {"weight_column": "plays"}),
}


def readme_bad_data_rows() -> dict[str, tuple[str, str]]:
    """The README's bad-data table: row name -> (message, what --skip-bad-rows does)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("<!-- bad data -->")[1].strip().split("\n\n")[0]
    rows = {}
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[1].startswith("`"):
            rows[cells[0]] = (cells[1].strip("`"), cells[2])
    return rows


@pytest.mark.parametrize("case", sorted(BAD_DATA))
def test_each_bad_data_row_of_the_readme_gets_its_message(case: str, tmp_path: Path) -> None:
    content, flags = BAD_DATA[case]
    path = tmp_path / "plays.csv"
    path.write_text(content)
    flags = {"user_column": "user", "item_column": "item", **flags}
    message, skipped = readme_bad_data_rows()[case]
    with pytest.raises(DataError) as error:
        read_log(LogConfig(data=str(path), **flags))
    assert str(error.value).replace(str(tmp_path) + "/", "") == message
    if skipped.startswith("dropped"):  # the row goes, counted by its reason
        log = read_log(LogConfig(data=str(path), skip_bad_rows=True, **flags))
        assert sum(log.schema.skipped.values()) == 1 and log.schema.interactions == content.count("\n") - 2
    else:
        with pytest.raises(DataError):
            read_log(LogConfig(data=str(path), skip_bad_rows=True, **flags))


def test_every_bad_data_row_of_the_readme_is_tested() -> None:
    rows = readme_bad_data_rows()
    assert set(rows) == set(BAD_DATA) | {"an unknown item in a history"}  # that one: tests/integration/test_lastfm.py


def test_bad_rows_name_their_line_after_a_skipped_one(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("user,item,plays\na,x,1\nb,y\n\nc,z,oops\n")
    with pytest.raises(DataError, match=re.escape("log.csv line 3: 2 fields, not 3 (2 bad rows in all)")):
        read_log(LogConfig(data=str(path), weight_column="plays", user_column="user", item_column="item"))
    log = read_log(LogConfig(data=str(path), weight_column="plays", user_column="user", item_column="item",
                             skip_bad_rows=True))
    assert log.schema.skipped == {"weight not a number": 1, "wrong number of fields": 1}


def test_random_time_and_new_user_splits() -> None:
    columns = {"user_id": np.array(["a"] * 5 + ["b"] * 5 + ["c"]),
               "timestamp": np.array([5, 4, 3, 2, 1, 10, 20, 30, 40, 50, 7])}
    train, test = holdout.random_split(11, 0.8, seed=42)
    assert len(train) == 9 and sorted(np.r_[train, test]) == list(range(11))
    train, test = holdout.time_split(columns, 0.8)
    assert test.tolist() == [0, 9]  # each user's latest; c's only interaction trains
    kept, history, test = holdout.user_split(columns, 0.6, 0.34, seed=1)
    held = set(columns["user_id"][np.r_[history, test]])
    assert len(held) == 1 and held.isdisjoint(columns["user_id"][kept])
    assert max(columns["timestamp"][history]) < min(columns["timestamp"][test])  # the earliest are the history


def test_recall_and_ndcg_by_hand() -> None:
    # One user, five items; item 0 seen in training. Scores rank 4, 3, 2, 1 among the unseen.
    scores = np.array([[9.0, 1.0, 2.0, 3.0, 4.0]])
    figures = metrics.recall_and_ndcg(lambda rows: scores[rows], [np.array([0])], [np.array([3, 1])], k=2)
    # Top 2: items 4 and 3; one hit (3) at rank 2, two test items: recall 1/2, NDCG (1/log2 3) / (1 + 1/log2 3).
    assert figures["recall_at_2"] == pytest.approx(0.5)
    assert figures["ndcg_at_2"] == pytest.approx((1 / np.log2(3)) / (1 + 1 / np.log2(3)))
