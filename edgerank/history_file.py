"""The user's history file as ``edgerank score`` and ``recommend`` take it: read, matched, reported.

A history file is the main input of the device commands, so nothing in it is
dropped without a word:

* titles typed differently from the catalogue ("the godfather") are matched
  to it (``edge_runtime.titles``) and the match is named on standard error;
* ambiguous and unknown titles are named, with suggestions, and ignored
  (``--strict`` makes them an error);
* a title rated twice is named (its last rating counts);
* a file with no ratings, or none the model knows, is an error (exit 2) unless
  ``--allow-empty-history`` asks for the average user's predictions.

The report (``personalize_file``'s second value) is what ``--json`` prints
under ``"history"``, and ``history_notes`` what standard error shows.
"""

from __future__ import annotations

import dataclasses

from typing import Any

from edge_runtime.history import HistoryError, UserState, match_history, read_history
from edge_runtime.manifest import ModelError
from edge_runtime.ranker import EdgeRanker
from edge_runtime.titles import AMBIGUOUS, TitleMatch

#: Titles one stderr line names before "and N more".
SHOWN = 5
ALLOW_EMPTY = "pass --allow-empty-history to rank for the average user"


def described(match: TitleMatch) -> str:
    """A title that did not resolve, with what to try: ``'Alein (1979)' (did you mean 'Alien (1979)'?)``.

    The suggestions are as the report words them: display names where the bundle has them.
    """
    options = " or ".join(map(repr, match.suggestions))
    if match.how == AMBIGUOUS:
        return f"{match.query!r} (which one: {options}?)"
    return f"{match.query!r} (did you mean {options}?)" if options else repr(match.query)


def _listing(items: list[str]) -> str:
    more = f"; and {len(items) - SHOWN:,} more" if len(items) > SHOWN else ""
    return "; ".join(items[:SHOWN]) + more


def personalize_file(ranker: EdgeRanker, path: str, strict: bool = False,
                     allow_empty: bool = False) -> tuple[UserState, dict[str, Any]]:
    """Reads the history at ``path`` (``-``: standard input), matches its titles and personalizes.

    Returns:
        ``(state, report)``; the report is ``{"file", "entries", "rated", "matched": [{"given",
        "title"}], "unknown": [{"title", "did_you_mean"}], "ambiguous": [{"title", "did_you_mean"}],
        "repeated": [{"title", "times"}]}``.

    Raises:
        HistoryError: The file is unreadable or malformed; it holds no ratings, or none of a title
            the model knows (unless ``allow_empty``); with ``strict``, a title that did not resolve.
    """
    entries = read_history(path, ranker.rating_range)
    where = "standard input" if path == "-" else path
    if not entries and not allow_empty:
        raise HistoryError(f"{where} holds no ratings (title,rating lines): {ALLOW_EMPTY}")
    try:
        catalogue = ranker.catalogue()
    except ModelError:  # a bare model without its titles: the model flags what it does not know
        catalogue = None
    if catalogue is None:
        pairs, unresolved, matched, repeated = entries, [], [], {}
    else:
        history = match_history(entries, catalogue)
        pairs, repeated = history.pairs, history.repeated
        matched = [match for match in history.matches if match.title is not None]
        # Suggestions as a person reads them (and may type them): display names where the bundle has them.
        unresolved = [dataclasses.replace(match, suggestions=tuple(dict.fromkeys(map(catalogue.display,
                                                                                   match.suggestions))))
                      for match in history.unresolved]
    if strict and unresolved:
        raise HistoryError(f"--strict: {len(unresolved)} history title(s) in {where} name no single title of the "
                           f"model's catalogue: {_listing([described(match) for match in unresolved])}")
    state = ranker.personalize(pairs)
    unresolved += [TitleMatch(title, None, "unknown") for title in state.unknown_titles]
    if entries and not state.rated_titles and not allow_empty:
        raise HistoryError(f"none of the {len(entries):,} history entries in {where} is a title the model knows: "
                           f"{_listing([described(match) for match in unresolved])}: correct them, or {ALLOW_EMPTY}")
    report = {
        "file": where, "entries": len(entries), "rated": len(state.rated_titles),
        "matched": [{"given": match.query, "title": match.title,
                     **({"name": catalogue.display(match.title)} if catalogue.names else {})} for match in matched],
        "unknown": [{"title": m.query, "did_you_mean": list(m.suggestions)} for m in unresolved if m.how != AMBIGUOUS],
        "ambiguous": [{"title": m.query, "did_you_mean": list(m.suggestions)} for m in unresolved if m.how == AMBIGUOUS],
        "repeated": [{"title": title, "times": times} for title, times in repeated.items()],
    }
    return state, report


def history_notes(report: dict[str, Any]) -> list[str]:
    """What standard error says of a history (``personalize_file``'s report): one line per kind of note."""
    notes = []
    if report["matched"]:
        notes.append(f"matched {len(report['matched'])} history title(s) to the catalogue: " + _listing(
            [f"{entry['given']!r} as {entry.get('name', entry['title'])!r}" for entry in report["matched"]]))
    for key, what in (("unknown", "the model does not know"), ("ambiguous", "that match several titles")):
        if report[key]:
            notes.append(f"ignored {len(report[key])} history title(s) {what}: " + _listing([described(TitleMatch(
                entry["title"], None, key, tuple(entry["did_you_mean"]))) for entry in report[key]]))
    if report["repeated"]:
        notes.append(f"{len(report['repeated'])} title(s) rated more than once, the last rating counts: " + _listing(
            [f"{entry['title']!r} ({entry['times']} times)" for entry in report["repeated"]]))
    if not report["entries"]:
        notes.append(f"{report['file']} holds no ratings: these are the average user's predictions")
    elif not report["rated"]:
        notes.append("no history title is known: these are the average user's predictions")
    return notes
