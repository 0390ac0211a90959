"""What the user says about their interaction log (``LogConfig``) and what was read (``Schema``).

``LogConfig``'s fields are ``edgerank train`` and ``eval`` flags of the same
names. ``Schema`` is recorded in ``metrics.json`` (``data.schema``) and in the
bundle's manifest (``schema``), so every later stage knows whether the numbers
are ratings or weights, on which scale, and where they came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge_runtime.errors import EdgeRankError

#: Columns by name, one row per interaction: what every reader returns and every stage passes on.
Columns = dict[str, np.ndarray]
#: ``Schema.feedback`` values: ratings say how good, weights how much.
FEEDBACK = ("explicit", "implicit")
#: ``LogConfig.header`` values.
HEADER_CHOICES = ("auto", "yes", "no")


class DataError(EdgeRankError):
    """The data could not be found or read; the message names the file and line, or what to do."""


@dataclass
class LogConfig:
    """The interaction log: where it is and which column is what.

    Attributes:
        data: The interaction log: a CSV, TSV, Parquet or JSON-lines file (by its extension; .dat and .txt are
            read as delimited text), or a MovieLens archive or folder (detected from its files, its own columns);
            none reads $EDGERANK_DATA, else downloads MovieLens 100K through tensorflow-datasets.
        user_column: The log's user id column: a name from its header, or a position (1 is the first) when it has
            none.
        item_column: The log's item id column (a name or a position).
        rating_column: Explicit feedback: the column of ratings, on any scale (the range is read from the data
            and the device refuses ratings outside it).
        weight_column: Implicit feedback: the column saying how much (plays, clicks, seconds); with neither a
            rating nor a weight column each row counts 1.
        time_column: When each interaction happened (numbers, or dates such as 2024-05-01T10:00:00), for
            --split-method time and for keeping a rating's latest value; optional.
        items: A file naming the items (CSV, TSV, Parquet or JSON lines): their display names are shipped in the
            bundle and printed on the device; optional.
        item_id_column: The items file's item id column (a name or a position).
        item_name_column: The items file's display-name column (a name or a position).
        delimiter: The delimiter of text files (for a tab, type tab); none: detected from the first lines.
        header: Whether text files start with a header line: auto (detected from the first lines), yes or no;
            without one, columns are named by position.
        skip_bad_rows: Drop the rows that cannot be used (a missing value, a rating or weight that is not a
            number, a negative weight, a wrong number of fields), counted by reason with the first few named,
            instead of stopping at the first.
    """

    data: str | None = None
    user_column: str = "user_id"
    item_column: str = "item_id"
    rating_column: str = ""
    weight_column: str = ""
    time_column: str = ""
    items: str = ""
    item_id_column: str = "item_id"
    item_name_column: str = "name"
    delimiter: str = ""
    header: str = field(default="auto", metadata={"choices": HEADER_CHOICES})
    skip_bad_rows: bool = False


@dataclass(frozen=True)
class Schema:
    """What was read from a log: its layout, the meaning of its numbers and what reading changed.

    Attributes:
        source: The file or folder read.
        format: csv (any delimiter), parquet, jsonl, or the MovieLens layout (movielens-100k, movielens-1m,
            movielens-csv, movielens-tfds).
        feedback: explicit (ratings: how good) or implicit (weights: how much).
        user_column, item_column: The columns read as user and item ids.
        value_column: The rating or weight column; empty: each row counts 1.
        time_column: The time column; empty: none.
        value_range: The smallest and largest rating (explicit) or weight (implicit) read.
        delimiter: A text file's delimiter; empty for other formats.
        header: Whether a text file had a header line.
        rows: Rows in the file.
        interactions: Rows kept, after bad rows were dropped and duplicates merged.
        users, items: Distinct users and items kept.
        skipped: Rows dropped by ``skip_bad_rows``, by reason.
        duplicates: Repeated (user, item) rows merged: their weights summed (implicit), or the latest rating
            kept (explicit).
        items_file: The file the display names came from; empty: none.
        named_items: Items of the log the items file names.
    """

    source: str
    format: str
    feedback: str
    user_column: str
    item_column: str
    value_column: str
    time_column: str
    value_range: tuple[float, float]
    delimiter: str = ""
    header: bool = False
    rows: int = 0
    interactions: int = 0
    users: int = 0
    items: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    items_file: str = ""
    named_items: int = 0

    @property
    def implicit(self) -> bool:
        """Whether the numbers are weights (how much), not ratings (how good)."""
        return self.feedback == "implicit"

    def summary(self) -> str:
        """One line for the log: what was read and what reading changed."""
        what = f"{self.feedback} feedback ({self.value_column or 'each row counts 1'})"
        changes = [f"{count} {reason}" for reason, count in self.skipped.items()]
        if self.duplicates:
            changes.append(f"{self.duplicates} repeated (user, item) rows "
                           f"{'summed' if self.implicit else 'merged, the latest rating kept'}")
        return (f"{self.source} ({self.format}): {self.interactions} interactions, {self.users} users, "
                f"{self.items} items, {what}, values {self.value_range[0]:g} to {self.value_range[1]:g}"
                + (f"; dropped or merged: {', '.join(changes)}" if changes else "")
                + (f"; {self.named_items} items named by {self.items_file}" if self.items_file else ""))
