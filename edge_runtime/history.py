"""A user's own ratings, as the history model takes them: parsing, checking, and the state it returns.

A history is a list of ``(title, rating)`` pairs. ``read_history`` reads one
from a file of ``title,rating`` lines (CSV or tab-separated, an optional
``title,rating`` header), of JSON lines (``{"title": "Fargo (1996)", "rating":
5}``) or a JSON array of such entries; ``clean_history`` checks it against the
model's rating scale. The rules:

* A rating that is not a finite number, or lies outside the scale the model
  was trained on, is an error (``HistoryError``) that names the line or entry.
* A title rated twice counts once, with its last rating (a history is the
  user's current opinion of each title).
* Titles the model does not know are ignored, and reported
  (``UserState.unknown_titles``), so a caller can say so.
* An empty history is valid: it gets the average user's predictions.

``match_history`` resolves the titles a person typed ("the godfather") to the
catalogue's ("Godfather, The (1972)") first, and says what it could not
resolve (``edge_runtime.titles``); ``edgerank score`` and ``recommend`` run it
on every history file.
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
from edge_runtime.titles import EXACT, Catalogue, TitleMatch


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


@dataclass(frozen=True)
class MatchedHistory:
    """A history's titles resolved against the catalogue (``match_history``).

    Attributes:
        pairs: ``(catalogue title, rating)`` for every resolved title once, with its last rating.
        matches: How each entry not given exactly was matched (normalised, ambiguous or unknown),
            once per distinct title given, in the history's order.
        repeated: Catalogue titles rated more than once, with how many times (the last rating counts).
    """

    pairs: list[tuple[str, float]]
    matches: list[TitleMatch]
    repeated: dict[str, int]

    @property
    def unresolved(self) -> list[TitleMatch]:
        """The entries that resolved to no catalogue title: ambiguous or unknown."""
        return [match for match in self.matches if match.title is None]


#: Unknown titles of one history that ``match_history`` finds suggestions for (the rest are only named).
SUGGESTED_TITLES = 20


def match_history(history: Iterable[tuple[str, float]], catalogue: Catalogue) -> MatchedHistory:
    """Resolves each title of ``history`` (``(title, rating)`` pairs, as ``read_history`` returns) with
    ``catalogue.match``; unresolved entries are left out of ``pairs`` and reported (suggestions for
    the first ``SUGGESTED_TITLES`` unknown ones)."""
    latest: dict[str, float] = {}
    counts: dict[str, int] = {}
    matches: dict[str, TitleMatch] = {}
    for given, rating in history:
        match = matches.get(given) or catalogue.match(given, suggest=len(matches) < SUGGESTED_TITLES)
        if match.how != EXACT:
            matches[given] = match
        if match.title is not None:
            latest.pop(match.title, None)  # the last rating wins, at the last position
            latest[match.title] = rating
            counts[match.title] = counts.get(match.title, 0) + 1
    return MatchedHistory(list(latest.items()), list(matches.values()),
                          {title: count for title, count in counts.items() if count > 1})


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
        if math.isinf(rating_range[1]):  # an implicit-feedback model's weights
            raise HistoryError(f"{where}: weight {value!r} is below {rating_range[0]:g}: weights say how much "
                               "(plays, clicks), 0 or more")
        raise HistoryError(f"{where}: rating {value!r} is outside the model's scale "
                           f"{rating_range[0]:g}-{rating_range[1]:g}")
    return rating


#: The longest line a history file may hold, in characters: a title and a rating, generously.
MAX_LINE = 10_000


def read_history(path: str, rating_range: tuple[float, float] | None = None) -> list[tuple[str, float]]:
    """Reads a history file at ``path`` (``-`` reads standard input) as ``(title, rating)`` pairs, in file order.

    The format is taken from the first non-blank character and line: ``[`` starts a JSON array of
    ``{"title": …, "rating": …}`` objects (or ``[title, rating]`` pairs), ``{`` JSON lines of such
    objects; otherwise ``title,rating`` lines (CSV: quote titles that hold commas,
    ``"Godfather, The (1972)",5``), tab-separated when the first line holds a tab, with an
    optional ``title,rating`` header. ``rating_range`` (the model's scale) is checked entry by
    entry when given.

    Raises:
        HistoryError: The file cannot be read, is not UTF-8, holds a NUL, a line longer than ``MAX_LINE``
            (but in a JSON array), or an entry that is not a title and a rating; the message names the
            line (or the array's entry).
    """
    where = "standard input" if path == "-" else path
    try:
        raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as error:
        raise HistoryError(f"cannot read history file {path}: {error.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise HistoryError(f"history file {where} is not UTF-8 ({error.reason} at byte {error.start})") from None
    lines = text.splitlines()
    if "\0" in text:
        number = text[:text.index("\0")].count("\n") + 1
        raise HistoryError(f"{where} line {number} holds a NUL character: a history file is text")
    first = next((line.strip() for line in lines if line.strip()), "")
    if first.startswith("["):
        return _json_array(text, where, rating_range)
    for number, line in enumerate(lines, 1):
        if len(line) > MAX_LINE:
            raise HistoryError(f"{where} line {number} is {len(line):,} characters long (at most {MAX_LINE:,}): "
                               "a history line holds one title and its rating")
    if first.startswith("{"):
        return _json_lines(lines, where, rating_range)
    return _csv_lines(lines, where, rating_range, delimiter="\t" if "\t" in first else ",")


def _entry(title: Any, rating: Any, rating_range: tuple[float, float] | None, where: str) -> tuple[str, float]:
    if not isinstance(title, str):
        raise HistoryError(f"{where}: the title must be a string, got {json.dumps(title)[:80]}")
    return title, _rating(rating, rating_range, where)


def _json(text: str, where: str, line: int | None = None) -> Any:
    """``json.loads(text)``; its errors as a ``HistoryError`` naming the line (``line``, or where the error is)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise HistoryError(f"{where} line {line or error.lineno} is not JSON: {error.msg}") from None
    except RecursionError:
        raise HistoryError(f"{where} line {line or 1} is not a history entry: its JSON nests too deeply") from None


def _json_array(text: str, where: str, rating_range: tuple[float, float] | None) -> list[tuple[str, float]]:
    entries = _json(text, where)
    if not isinstance(entries, list):
        raise HistoryError(f"{where} is not a JSON array of entries")
    pairs = []
    for position, entry in enumerate(entries):
        at = f"{where} entry {position}"
        if isinstance(entry, dict) and "title" in entry and "rating" in entry:
            pairs.append(_entry(entry["title"], entry["rating"], rating_range, at))
        elif isinstance(entry, list) and len(entry) == 2:
            pairs.append(_entry(entry[0], entry[1], rating_range, at))
        else:
            raise HistoryError(f'{at}: expected {{"title": …, "rating": …}} or [title, rating], got '
                               f"{json.dumps(entry)[:80]}")
    return pairs


def _json_lines(lines: list[str], where: str, rating_range: tuple[float, float] | None) -> list[tuple[str, float]]:
    entries = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        entry = _json(line, where, number)
        if not isinstance(entry, dict) or "title" not in entry or "rating" not in entry:
            raise HistoryError(f'{where} line {number}: expected {{"title": …, "rating": …}}, got {line.strip()[:80]}')
        entries.append(_entry(entry["title"], entry["rating"], rating_range, f"{where} line {number}"))
    return entries


def _csv_lines(lines: list[str], where: str, rating_range: tuple[float, float] | None,
               delimiter: str) -> list[tuple[str, float]]:
    entries = []
    separated = "tab-separated" if delimiter == "\t" else "comma-separated"
    rows = csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)
    done = 0  # lines read before the current row
    try:
        for row in rows:
            number, done = done + 1, rows.line_num  # the row's first line, and its last
            if not row or not "".join(row).strip():
                continue
            if done > number:
                raise HistoryError(f"{where} line {number}: a quote opened on this line closes on line {done} "
                                   "(a title and its rating fit on one line)")
            if len(row) != 2:
                shown = delimiter.join(row)[:80]
                raise HistoryError(f"{where} line {number}: expected a title and a rating ({separated}; quote "
                                   f"titles that hold a {'tab' if delimiter == chr(9) else 'comma'}), got "
                                   f"{len(row)} field(s): {shown!r}")
            title, rating = row
            if number == 1 and title.strip().lower() == "title" and rating.strip().lower() == "rating":
                continue  # header
            entries.append((title, _rating(rating.strip(), rating_range, f"{where} line {number}")))
    except csv.Error as error:
        raise HistoryError(f"{where} line {done + 1} is not {separated} text: {error}") from None
    return entries
