"""The log a model trains on: loading (MovieLens or any log), the split, and vocabularies.

``load_log`` reads ``LogConfig.data``: MovieLens (below) in its own layouts,
any other log through ``interactions.log``. ``split_log`` splits it by
``SplitConfig.method`` (``interactions.holdout``).

MovieLens:

Ratings come from a GroupLens archive or its extracted folder (100K, 1M, 20M,
25M or latest-small, detected from the files: ``interactions.movielens``), or, with
no path, from tensorflow-datasets (``movielens/100k-ratings`` and
``movielens/100k-movies``). Either way the columns carry the
tensorflow-datasets feature names and the records come in tensorflow-datasets'
order, so on 100K the tutorials' ``shuffle(100_000, seed=42)`` split selects
exactly the same 80,000 training and 20,000 test ratings.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import socket
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from interactions import holdout, movielens
from interactions.log import Log, read_log
from interactions.schema import Columns, DataError, LogConfig, Schema
from trainer.config import SplitConfig

#: Environment variable naming the archive when ``--data`` is not given.
DATA_ENV = "EDGERANK_DATA"

#: Text values ``fingerprint`` joins at a time.
FINGERPRINT_BLOCK = 1 << 20

#: Columns every loader returns (a subset of tensorflow-datasets' features).
RATING_COLUMNS = (
    "user_id",
    "movie_id",
    "movie_title",
    "user_rating",
    "timestamp",
    "raw_user_age",
    "user_gender",
    "user_occupation_text",
    "user_zip_code",
)


@dataclass(frozen=True)
class MovieLens:
    """MovieLens in memory.

    Attributes:
        ratings: One array per column in ``RATING_COLUMNS``, one row per rating.
        movie_titles: Every catalogue title (``u.item``, ``movies.*``), rated or not.
        layout: The layout read (``interactions.movielens.LAYOUTS``), or tfds.
    """

    ratings: Columns
    movie_titles: np.ndarray
    layout: str = "tfds"

    @property
    def user_ids(self) -> np.ndarray:
        """Sorted unique user ids: the user vocabulary."""
        return np.unique(self.ratings["user_id"])

    @property
    def unique_movie_titles(self) -> np.ndarray:
        """Sorted unique catalogue titles: the movie vocabulary."""
        return np.unique(self.movie_titles)


def load_movielens(path: str | os.PathLike[str] | None = None, skip_bad_rows: bool = False) -> MovieLens:
    """Loads MovieLens.

    Args:
        path: A GroupLens archive (``ml-100k.zip``, ``ml-1m.zip``,
            ``ml-25m.zip`` …) or its extracted folder, in any layout of
            ``interactions.movielens``. ``None`` reads ``$EDGERANK_DATA``; if that is
            unset too, tensorflow-datasets downloads MovieLens 100K.
        skip_bad_rows: Drop ratings that name unknown users or movies, with a warning
            (``interactions.movielens``), instead of failing.

    Returns:
        The ratings and the movie catalogue.

    Raises:
        DataError: The path is not MovieLens, or no path was given and
            tensorflow-datasets cannot get the data (no network).
    """
    path = resolve_path(path)
    if path is None:
        return _load_from_tfds()
    return _load_from_files(Path(path), skip_bad_rows)


def load_log(config: LogConfig) -> Log:
    """Loads the log ``config`` names: MovieLens (no path, an archive, or a folder in a MovieLens layout) or any
    other log (``interactions.log.read_log``).

    Raises:
        DataError: The log cannot be found or read (the message names the file and line).
    """
    path = resolve_path(config.data)
    if path is not None and not movielens.is_movielens(Path(path)):
        return read_log(dataclasses.replace(config, data=path))
    loaded = load_movielens(path, config.skip_bad_rows)
    ratings = loaded.ratings["user_rating"]
    schema = Schema(source=path or "tensorflow-datasets", format=f"movielens-{loaded.layout}",
                    feedback="explicit", user_column="user_id", item_column="movie_title", value_column="user_rating",
                    time_column="timestamp", value_range=(float(ratings.min()), float(ratings.max())),
                    rows=len(ratings), interactions=len(ratings), users=len(loaded.user_ids),
                    items=len(loaded.unique_movie_titles))
    return Log(loaded.ratings, loaded.unique_movie_titles, {}, schema)


def split_log(log: Log, config: SplitConfig) -> tuple[Columns, Columns, Columns]:
    """Splits a log by ``config.method`` (``interactions.holdout``).

    Returns:
        ``(train, test, new-user histories)``: the last is empty except for the users method, where ``test``
        holds the held-out users' later interactions and the histories their earlier ones.
    """
    ratings = log.ratings
    empty = rows(ratings, np.zeros(0, np.int64))
    if config.method == "time":
        train, test = holdout.time_split(ratings, config.train_fraction)
    elif config.method == "users":
        train, history, test = holdout.user_split(ratings, config.train_fraction, config.new_user_fraction,
                                                  config.seed)
        return rows(ratings, train), rows(ratings, test), rows(ratings, history)
    elif log.schema.format.startswith("movielens"):
        return (*split_ratings(ratings, config), empty)
    else:
        train, test = holdout.random_split(len(ratings["user_id"]), config.train_fraction, config.seed)
    return rows(ratings, train), rows(ratings, test), empty


def resolve_path(path: str | os.PathLike[str] | None) -> str | None:
    """Where MovieLens is read from: ``path`` if given, else ``$EDGERANK_DATA``; ``None`` if neither is set."""
    return os.fspath(path) if path else os.environ.get(DATA_ENV) or None


def split_ratings(ratings: Columns, config: SplitConfig) -> tuple[Columns, Columns]:
    """Splits ratings exactly as the TFRS tutorials do.

    ``tf.random.set_seed(seed)``, ``shuffle(shuffle_buffer, seed=seed,
    reshuffle_each_iteration=False)``, then the first ``train_size`` records
    train and the next ``test_size`` test (sizes of 0 are taken from the
    data, see ``SplitConfig``). The shuffle's permutation depends
    only on the seeds and the record count, so it is drawn once over indices.

    Returns:
        ``(train, test)`` columns.

    Raises:
        DataError: There are fewer ratings than ``train_size + test_size``.
    """
    import tensorflow as tf

    count = len(ratings["user_id"])
    train_size = config.train_size or round(count * config.train_fraction)
    test_size = config.test_size or count - train_size
    if train_size + test_size > count:
        raise DataError(f"the split needs {train_size} + {test_size} ratings, the data has {count}")
    tf.random.set_seed(config.seed)
    shuffled = tf.data.Dataset.range(count).shuffle(
        config.shuffle_buffer or count, seed=config.seed, reshuffle_each_iteration=False
    )
    order = shuffled.batch(count).get_single_element().numpy()
    train = order[:train_size]
    test = order[train_size : train_size + test_size]
    return rows(ratings, train), rows(ratings, test)


def validation_split(train: Columns, fraction: float, seed: int) -> tuple[Columns, Columns]:
    """Carves a validation split out of the training ratings (never out of the test split).

    Returns:
        ``(fit, validation)``: a seeded random ``fraction`` of ``train`` is validation (``validation_mask``).
    """
    held_out = validation_mask(len(train["user_id"]), fraction, seed)
    return rows(train, ~held_out), rows(train, held_out)


def validation_mask(count: int, fraction: float, seed: int) -> np.ndarray:
    """[count] bool: which of ``count`` training ratings a seeded random ``fraction`` (at least one) holds out."""
    held_out = np.zeros(count, bool)
    held_out[np.random.default_rng(seed).permutation(count)[:max(1, round(count * fraction))]] = True
    return held_out


def rows(columns: Columns, which: np.ndarray) -> Columns:
    """The rows ``which`` (positions or a boolean mask) of every column, copied."""
    return {name: values[which] for name, values in columns.items()}


def fingerprint(columns: Columns) -> str:
    """SHA-256 over the columns' names and values, in order: which data a model was trained on.

    Two runs on the same split give the same fingerprint; any changed, added or
    reordered rating changes it.
    """
    digest = hashlib.sha256()
    for name in sorted(columns):
        values = np.asarray(columns[name])
        digest.update(name.encode())
        if values.dtype.kind in "OSU":  # the values joined by \x1f, a million at a time (25M: gigabytes at once)
            for start in range(0, len(values), FINGERPRINT_BLOCK):
                text = "\x1f".join(map(str, values[start:start + FINGERPRINT_BLOCK].tolist()))
                digest.update((("\x1f" if start else "") + text).encode("utf-8", "surrogatepass"))
        else:
            digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()


def _tfds_order(count: int, split: str = "train") -> np.ndarray:
    """Record order of a prepared tensorflow-datasets split of ``count`` examples.

    tensorflow-datasets writes examples sorted by the MD5 of the split name
    followed by the example key; the MovieLens builders key rows by line number.
    """
    salted = hashlib.md5(split.encode())

    def key_hash(row: int) -> int:
        digest = salted.copy()
        digest.update(str(row).encode())
        return int(digest.hexdigest(), 16)

    return np.array(sorted(range(count), key=key_hash), dtype=np.int64)


def _load_from_files(path: Path, skip_bad_rows: bool) -> MovieLens:
    layout, table, titles = movielens.read(path, skip_bad_rows)
    # tensorflow-datasets' record order: the tutorials' split depends on it.
    return MovieLens(ratings=rows(table, _tfds_order(len(table["user_id"]))), movie_titles=titles, layout=layout)


def _decode(values: np.ndarray) -> np.ndarray:
    """tensorflow-datasets yields strings as UTF-8 bytes; other dtypes pass through."""
    if values.dtype.kind in "OS":
        return np.char.decode(values.astype(np.bytes_), "utf-8")
    return values


def _check_reachable(url: str, timeout: float = 5.0) -> None:
    """Fails fast when ``url``'s host is unreachable (tfds would retry for minutes)."""
    parsed = urllib.parse.urlparse(url)
    with socket.create_connection((parsed.hostname, parsed.port or 443), timeout=timeout):
        pass


def _load_from_tfds() -> MovieLens:
    import tensorflow_datasets as tfds

    names = ("movielens/100k-ratings", "movielens/100k-movies")
    try:
        for name in names:
            builder = tfds.builder(name)
            if not builder.is_prepared():
                _check_reachable(builder.builder_config.download_url)
        ratings, movies = (tfds.load(name, split="train", batch_size=-1) for name in names)
    except Exception as error:  # offline, tfds and sockets raise many types
        raise DataError(
            "MovieLens 100K is not available: tensorflow-datasets could not download it "
            f"({type(error).__name__}: {error}). Point at the GroupLens archive instead: "
            f"--data path/to/ml-100k.zip, or set {DATA_ENV}."
        ) from error
    table = {}
    for name in RATING_COLUMNS:
        table[name] = _decode(tfds.as_numpy(ratings[name]))
    titles = _decode(tfds.as_numpy(movies["movie_title"]))
    return MovieLens(ratings=table, movie_titles=titles)
