"""An interaction log in any layout, read into the columns every stage passes on.

``read_log`` reads the file (or every data file of a folder) named by
``LogConfig.data`` through ``interactions.tables``, maps its columns by the
config's names, checks every row, and returns:

* ``Log.ratings``: ``user_id`` (text), ``movie_title`` (the item id, text:
  the models' vocabulary), ``user_rating`` (the rating, or the weight of
  implicit feedback, float32) and ``timestamp`` (seconds, 0 without a time
  column), one row per (user, item);
* ``Log.titles``: every item id;
* ``Log.names``: item id -> display name, from ``LogConfig.items``;
* ``Log.schema``: the ``Schema`` of what was read.

A row that cannot be used is an error naming the file, the line and the
value: a missing user or item id, a rating or weight that is not a number, a
negative or infinite weight, a time that is neither a number nor a date, the
wrong number of fields. With ``skip_bad_rows`` such rows are dropped, counted
by reason in ``Schema.skipped``, and the first few named in a warning. Rows of
weight 0 (no interaction) are dropped and counted. A (user, item) pair that
occurs more than once is one interaction: implicit weights are summed,
explicit ratings keep the latest (by time, else the last in the file), and
``Schema.duplicates`` counts the rows merged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from interactions.schema import Columns, DataError, LogConfig, Schema
from interactions.tables import JSON_SUFFIXES, PARQUET_SUFFIXES, Table, read_table

log = logging.getLogger(__name__)

#: Bad rows a ``skip_bad_rows`` warning names.
NAMED_BAD_ROWS = 5
#: Extensions of the files a folder's log is read from.
DATA_SUFFIXES = (".csv", ".tsv", ".txt", ".dat", *PARQUET_SUFFIXES, *JSON_SUFFIXES)
#: A number as text: what a rating, a weight or a numeric time must look like (NaN and infinities included,
#: so that they are named as such).
NUMBER = r"^[+-]?((\d+\.?\d*)|(\.\d+))([eE][+-]?\d+)?$|^[+-]?(?i:nan|inf|infinity)$"
#: An ISO 8601 date, with or without a time.
DATE = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$"


@dataclass(frozen=True)
class Log:
    """A log in memory (see the module docstring)."""

    ratings: Columns
    titles: np.ndarray
    names: dict[str, str]
    schema: Schema


class _Rows:
    """One file's bad rows: each row's first problem, by reason."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.bad = np.zeros(table.rows, bool)
        self.first: dict[str, int] = {}       # reason -> first row
        self.counts: dict[str, int] = {}
        self.examples: list[tuple[int, str]] = []

    def flag(self, mask: np.ndarray, reason_of: callable, kind: str) -> None:
        """Marks the rows of ``mask`` not already bad; ``reason_of(row)`` words the problem."""
        new = mask & ~self.bad
        if not new.any():
            return
        self.bad |= new
        rows = np.flatnonzero(new)
        self.counts[kind] = self.counts.get(kind, 0) + len(rows)
        self.examples += [(int(row), reason_of(int(row))) for row in rows[:NAMED_BAD_ROWS]]

    def messages(self) -> list[str]:
        lines = [(line, f"{self.table.path} line {line}: {reason}") for line, reason in self.table.bad_rows]
        lines += [(self.table.line(row), f"{self.table.where(row)}: {reason}") for row, reason in self.examples]
        return [text for _, text in sorted(lines)]

    def total(self) -> dict[str, int]:
        counts = dict(self.counts)
        if self.table.bad_rows:
            counts["wrong number of fields"] = len(self.table.bad_rows)
        return counts


def read_log(config: LogConfig) -> Log:
    """Reads, checks and merges the log ``config.data`` names (see the module docstring).

    Args:
        config: The file or folder and which column is what. ``rating_column`` makes the feedback explicit;
            otherwise it is implicit, weighted by ``weight_column`` or 1 per row.

    Returns:
        The log.

    Raises:
        DataError: A file is missing, empty or unreadable, lacks a named column, or (without
            ``skip_bad_rows``) has a bad row; or no interaction is left.
    """
    if config.rating_column and config.weight_column:
        raise DataError("give --rating-column (explicit ratings) or --weight-column (implicit weights), not both")
    files = _files(Path(config.data or ""), config)
    explicit = bool(config.rating_column)
    value_column = config.rating_column or config.weight_column
    wanted = list(dict.fromkeys(name for name in (config.user_column, config.item_column, value_column,
                                                  config.time_column) if name))
    parts, counts, layout = [], {}, None
    for path in files:
        table = read_table(path, wanted, config.delimiter, config.header)
        layout = layout or (table.format, table.delimiter, table.header)  # the first file's
        part, rows = _checked(table, config, explicit)
        for reason, count in rows.total().items():
            counts[reason] = counts.get(reason, 0) + count
        messages = rows.messages()
        if messages and not config.skip_bad_rows:
            bad = sum(rows.total().values())
            raise DataError(f"{messages[0]}{f' ({bad} bad rows in all)' if bad > 1 else ''}; "
                            "--skip-bad-rows drops and counts them")
        if messages:
            log.warning("%s: dropped %d bad rows (%s); the first: %s", path, sum(rows.total().values()),
                        ", ".join(f"{count} {reason}" for reason, count in rows.total().items()),
                        "; ".join(messages[:NAMED_BAD_ROWS]))
        parts.append(part)
        del table, part, rows  # the file's columns: only the checked ids, values and times go on
        pa.default_memory_pool().release_unused()
    users, items = (_joined([part[index] for part in parts]) for index in (0, 1))
    values, times = (np.concatenate([part[index] for part in parts]) if len(parts) > 1 else parts[0][index]
                     for index in (2, 3))
    del parts
    weights = values > 0 if not explicit else np.ones(len(values), bool)
    if not explicit and (~weights).any():
        counts["weight 0"] = int((~weights).sum())
        kept = pa.array(weights)
        users, items, values, times = users.filter(kept), items.filter(kept), values[weights], times[weights]
    if not len(users):
        raise DataError(f"{config.data}: no interaction left to train on"
                        + (f" ({', '.join(f'{n} {reason}' for reason, n in counts.items())})" if counts else ""))
    ratings, user_count, titles, duplicates = _merged(users, items, values, times, explicit)
    names, named_file = {}, ""
    if config.items:
        names = read_names(config)
        named_file = config.items
    schema = Schema(
        source=str(config.data), format=layout[0] if len(files) == 1 else f"{layout[0]} folder",
        feedback="explicit" if explicit else "implicit", user_column=config.user_column,
        item_column=config.item_column, value_column=value_column, time_column=config.time_column,
        value_range=(float(ratings["user_rating"].min()), float(ratings["user_rating"].max())),
        delimiter=layout[1], header=layout[2], rows=int(len(values) + sum(counts.values())),
        interactions=len(ratings["user_id"]), users=user_count, items=len(titles),
        skipped=counts, duplicates=duplicates, items_file=named_file,
        named_items=int(sum(title in names for title in titles.tolist())))
    log.info("%s", schema.summary())
    return Log(ratings, titles, {title: names[title] for title in titles.tolist() if title in names}, schema)


def read_names(config: LogConfig) -> dict[str, str]:
    """Item id -> display name from ``config.items`` (the first name of an id given twice; a row with the wrong
    number of fields is skipped with a warning: its item shows its id).

    Raises:
        DataError: The file is unreadable or lacks the id or name column.
    """
    table = read_table(config.items, [config.item_id_column, config.item_name_column], config.delimiter,
                       config.header)
    if table.bad_rows:  # names are for display: such rows lose their name, and say so
        line, reason = table.bad_rows[0]
        log.warning("%s: %d rows skipped (the first: line %d, %s); their items show their ids", config.items,
                    len(table.bad_rows), line, reason)
    ids = pc.utf8_trim_whitespace(table.columns[config.item_id_column]).to_pylist()
    names = table.columns[config.item_name_column].to_pylist()
    result: dict[str, str] = {}
    for item, name in zip(ids, names):
        if item and name and item not in result:
            result[item] = name.strip()
    if not result:
        raise DataError(f"{config.items}: no item has both an id and a name")
    return result


def _files(path: Path, config: LogConfig) -> list[Path]:
    if path.is_dir():
        items = Path(config.items).resolve() if config.items else None
        files = sorted(file for file in path.iterdir() if file.is_file() and file.suffix.lower() in DATA_SUFFIXES
                       and file.resolve() != items)
        if not files:
            raise DataError(f"{path}: no log file here (CSV, TSV, Parquet or JSON lines: "
                            f"{', '.join(DATA_SUFFIXES)}) and no MovieLens layout")
        return files
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    return [path]


def _checked(table: Table, config: LogConfig, explicit: bool) -> tuple[tuple, _Rows]:
    """A file's usable rows as ``(users, items, values, times)``, and its bad rows: ids as pyarrow arrays (text
    trimmed, or integers; Python strings took gigabytes at 25 million rows), values and times as numpy."""
    rows = _Rows(table)
    columns = {name: _text(column) if pa.types.is_string(column.type) else column
               for name, column in table.columns.items()}
    blank = np.ones(table.rows, bool)
    for column in columns.values():
        blank &= _missing(column)
    for what, name in (("user", config.user_column), ("item", config.item_column)):
        rows.flag(_missing(columns[name]) & ~blank, lambda row: f"no {what} id", f"no {what} id")
    if explicit or config.weight_column:
        column = columns[config.rating_column or config.weight_column]
        what = "rating" if explicit else "weight"
        values = _numbers(column)
        rows.flag(np.isnan(values) & ~blank & ~_says_nan(column),
                  lambda row: f"{what} {_shown(column, row)!r} is not a number", f"{what} not a number")
        rows.flag(~np.isfinite(values) & ~blank, lambda row: f"{what} {_shown(column, row)} is not a finite number",
                  f"{what} not finite")
        if not explicit:
            rows.flag(values < 0, lambda row: f"weight {_shown(column, row)} is negative", "negative weight")
    else:
        values = np.ones(table.rows)
    times = np.zeros(table.rows, np.int64)
    if config.time_column:
        column = columns[config.time_column]
        times, bad = _times(column)
        rows.flag(bad & ~blank, lambda row: f"time {_shown(column, row)!r} is neither a number nor a date",
                  "bad time")
    keep = ~rows.bad & ~blank
    kept = pa.array(keep)
    return (columns[config.user_column].filter(kept), columns[config.item_column].filter(kept), values[keep],
            times[keep]), rows


def _text(column: pa.Array) -> pa.Array:
    """A string column trimmed (null: empty)."""
    return pc.fill_null(pc.utf8_trim_whitespace(column), "")


def _missing(column: pa.Array) -> np.ndarray:
    """Which values are missing: empty text (``_text``), or null numbers."""
    missing = pc.equal(column, "") if pa.types.is_string(column.type) else pc.is_null(column)
    return missing.to_numpy(zero_copy_only=False)


def _shown(column: pa.Array, row: int) -> str:
    """One value as an error message shows it."""
    value = column[row].as_py()
    return "" if value is None else str(value)


def _numbers(column: pa.Array) -> np.ndarray:
    """Text or numbers -> float64; NaN where there is no number."""
    if pa.types.is_string(column.type):
        column = pc.if_else(pc.match_substring_regex(column, NUMBER), column, "nan")
    return pc.fill_null(pc.cast(column, pa.float64()), np.nan).to_numpy(zero_copy_only=False)


def _says_nan(column: pa.Array) -> np.ndarray:
    """Which values are NaN as such (the text ``nan``, or a float NaN), not missing or unreadable."""
    if pa.types.is_string(column.type):
        return pc.match_substring_regex(column, r"^[+-]?(?i:nan)$").to_numpy(zero_copy_only=False)
    return ~_missing(column)


def _times(column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Text or numbers -> (seconds as int64, bad mask): numbers as they are, ISO dates as seconds since 1970."""
    numbers = _numbers(column)
    times = np.zeros(len(column), np.int64)
    numeric = np.isfinite(numbers)
    times[numeric] = numbers[numeric].astype(np.int64)
    dated = np.zeros(len(column), bool)  # numbers are no dates
    if pa.types.is_string(column.type):
        dated = pc.match_substring_regex(column, DATE).to_numpy(zero_copy_only=False) & ~numeric
    if dated.any():
        stamps = pc.cast(column.filter(pa.array(dated)), pa.timestamp("s"))
        times[dated] = stamps.cast(pa.int64()).to_numpy(zero_copy_only=False)
    return times, ~(numeric | dated)


def _merged(users: pa.Array, items: pa.Array, values: np.ndarray, times: np.ndarray,
            explicit: bool) -> tuple[Columns, int, np.ndarray, int]:
    """One row per (user, item), in the order of their first rows.

    Returns:
        ``(ratings, users, titles, merged)``: the columns, how many users, every item id sorted, and how many
        rows were merged into others.
    """
    (user_codes, user_ids), (item_codes, item_ids) = _encoded(users), _encoded(items)
    keys = user_codes * len(item_ids) + item_codes
    del user_codes, item_codes
    unique, first, *inverse = np.unique(keys, return_index=True, return_inverse=not explicit)
    duplicates = len(keys) - len(unique)
    if explicit:
        # The latest rating of each pair: by time, then by file order.
        order = np.lexsort((np.arange(len(keys)), times, keys))
        last = np.r_[np.flatnonzero(np.diff(keys[order])), len(keys) - 1]
        kept = order[last]                                   # one row per key, in key order
        merged_values, merged_times = values[kept], times[kept]
    else:
        merged_values = np.bincount(inverse[0], weights=values, minlength=len(unique))
        merged_times = np.full(len(unique), np.iinfo(np.int64).min)
        np.maximum.at(merged_times, inverse[0], times)
    order = np.argsort(first, kind="stable")                 # the pairs in the order they first occur
    keys = unique[order]
    ratings = {"user_id": user_ids[keys // len(item_ids)], "movie_title": item_ids[keys % len(item_ids)],
               "user_rating": merged_values[order].astype(np.float32), "timestamp": merged_times[order]}
    return ratings, len(user_ids), np.sort(item_ids), duplicates


def _joined(ids: list[pa.Array]) -> pa.Array:
    """The files' id columns as one array: as they are if all have one type, else all as text (large strings:
    together they may pass a string array's 2 GiB)."""
    if len(ids) == 1:
        return ids[0]
    if len({column.type for column in ids}) == 1 and not pa.types.is_string(ids[0].type):
        return pa.concat_arrays(ids)
    return pa.concat_arrays([column.cast(pa.large_string()) for column in ids])


def _encoded(ids: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Ids (text or integers) -> ``(codes, distinct ids)``: int64 codes into the distinct ids, those as numpy
    text, in order of first occurrence."""
    encoded = pc.dictionary_encode(ids)
    distinct = encoded.dictionary if pa.types.is_string(ids.type) else encoded.dictionary.cast(pa.string())
    return np.asarray(encoded.indices).astype(np.int64), distinct.to_numpy(zero_copy_only=False).astype(str)
