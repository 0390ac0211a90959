"""A user's own ratings, as the history model takes them: parsing, checking, and the state it returns.

A history is a list of ``(title, rating)`` pairs. ``read_history`` reads one
from a file of ``title,rating`` lines (CSV, an optional ``title,rating``
header) or of JSON lines (``{"title": "Fargo (1996)", "rating": 5}``);
``clean_history`` checks it against the model's rating scale. The rules:

* A rating that is not a finite number, or lies outside the scale the model
  was trained on, is an error (``HistoryError``) that names the line or entry.
* A title rated twice counts once, with its last rating (a history is the
  user's current opinion of each title).
* Titles the model does not know are ignored, and reported
  (``UserState.unknown_titles``), so a caller can say so.
* An empty history is valid: it gets the average user's predictions.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.errors import EdgeRankError


class HistoryError(EdgeRankError):
    """A history that cannot be used: unreadable, malformed, or a rating that is not one."""


@dataclass(frozen=True)
class UserState:
    """What ``EdgeRanker.personalize`` returns; keep it on the device and pass it to ``score`` and ``recommend``.

    Attributes:
        vector: float32 [S], the model's ``user_state``.
        rated_titles: The known titles of the history (``recommend`` leaves them out).
        unknown_titles: History titles the model does not know (ignored).
    """

    vector: np.ndarray
    rated_titles: tuple[str, ...]
    unknown_titles: tuple[str, ...]


def clean_history(history: Iterable[tuple[Any, Any]] | Mapping[Any, Any],
                  rating_range: tuple[float, float] | None) -> tuple[list[str], np.ndarray]:
    """Checks a history and drops repeated titles (the last rating wins).

    Args:
        history: ``(title, rating)`` pairs, or a mapping of title to rating.
        rating_range: The model's rating scale; ``None`` checks only that ratings are finite.

    Returns:
        ``(titles, ratings)``: distinct titles in first-seen order, their last ratings as float32.

    Raises:
        HistoryError: A title that is not text, or a rating that is not a finite number in the scale.
    """
    pairs = history.items() if isinstance(history, Mapping) else history
    if isinstance(pairs, (str, bytes)):
        raise HistoryError("a history is a list of (title, rating) pairs, not a single string")
    latest: dict[str, float] = {}
    for position, pair in enumerate(pairs):
        try:
            title, rating = pair
        except (TypeError, ValueError):
            raise HistoryError(f"history entry {position} is not a (title, rating) pair: {pair!r}") from None
        if isinstance(title, bytes):
            title = title.decode("utf-8", errors="strict")
        if not isinstance(title, str):
            raise HistoryError(f"history entry {position}: the title must be a string, got {type(title).__name__}")
        latest.pop(title, None)  # the last rating wins, at the last position
        latest[title] = _rating(rating, rating_range, f"history entry {position} ({title!r})")
    return list(latest), np.fromiter(latest.values(), np.float32, len(latest))


def _rating(value: Any, rating_range: tuple[float, float] | None, where: str) -> float:
    if isinstance(value, bool):
        raise HistoryError(f"{where}: the rating must be a number, got {value!r}")
    try:
        rating = float(value)
    except (TypeError, ValueError):
        raise HistoryError(f"{where}: the rating must be a number, got {value!r}") from None
    if not math.isfinite(rating):
        raise HistoryError(f"{where}: the rating must be a finite number, got {value!r}")
    if rating_range is not None and not rating_range[0] <= rating <= rating_range[1]:
        raise HistoryError(f"{where}: rating {value!r} is outside the model's scale "
                           f"{rating_range[0]:g}-{rating_range[1]:g}")
    return rating


def read_history(path: str, rating_range: tuple[float, float] | None = None) -> list[tuple[str, float]]:
    """Reads ``title,rating`` lines (CSV) or JSON lines from ``path``; ``-`` reads standard input.

    The format is taken from the first non-blank line: ``{`` starts JSON lines.
    CSV quotes titles that hold commas (``"Godfather, The (1972)",5``).
    ``rating_range`` (the model's scale) is checked line by line when given.

    Raises:
        HistoryError: The file cannot be read, is not UTF-8, or a line is not a ``title,rating`` entry
            (its line number is named).
    """
    try:
        raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as error:
        raise HistoryError(f"cannot read history file {path}: {error.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise HistoryError(f"history file {path} is not UTF-8 ({error.reason} at byte {error.start})") from None
    lines = text.splitlines()
    first = next((line.strip() for line in lines if line.strip()), "")
    parse = _json_lines if first.startswith("{") else _csv_lines
    return parse(lines, path, rating_range)


def _json_lines(lines: list[str], path: str, rating_range: tuple[float, float] | None) -> list[tuple[str, float]]:
    entries = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as error:
            raise HistoryError(f"{path} line {number} is not JSON: {error.msg}") from None
        if not isinstance(entry, dict) or "title" not in entry or "rating" not in entry:
            raise HistoryError(f'{path} line {number}: expected {{"title": …, "rating": …}}, got {line.strip()[:80]}')
        entries.append((entry["title"], _rating(entry["rating"], rating_range, f"{path} line {number}")))
    return entries


def _csv_lines(lines: list[str], path: str, rating_range: tuple[float, float] | None) -> list[tuple[str, float]]:
    entries = []
    for number, row in enumerate(csv.reader(io.StringIO("\n".join(lines))), 1):
        if not row or not "".join(row).strip():
            continue
        if len(row) != 2:
            raise HistoryError(f"{path} line {number}: expected title,rating, got {len(row)} fields "
                               "(quote titles that hold commas)")
        title, rating = row
        if number == 1 and title.strip().lower() == "title" and rating.strip().lower() == "rating":
            continue  # header
        entries.append((title, _rating(rating.strip(), rating_range, f"{path} line {number}")))
    return entries
