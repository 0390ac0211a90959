"""Matching the titles a person types to the catalogue's: case, articles, a missing year, typos.

People rarely type a catalogue title exactly. MovieLens writes "Godfather,
The (1972)"; a user writes "The Godfather (1972)", "the godfather" or
"Godfather". ``Catalogue.match`` resolves such a title when it names exactly
one catalogue title after normalisation:

* case, accents and punctuation are ignored ("M*A*S*H" is "mash", "Schindler's List" is
  "schindlers list");
* a leading article, in front ("The Godfather") or moved behind ("Godfather,
  The"), is dropped, in the languages MovieLens titles use;
* a title without a year matches the title of any year, when there is one.

Anything else is not guessed: a title that normalises to several catalogue
titles ("Hamlet": 1990 and 1996) is ambiguous, and one that matches none is
unknown; both come with the closest catalogue titles as suggestions (close
typos included: "Alein (1979)" suggests "Alien (1979)"). Matching needs no
interpreter: it reads the bundle's ``titles.txt``.

A catalogue of item ids with display names (a bundle with ``names.txt``:
logs other than MovieLens) matches a name the same way as a title, and
resolves it to the item's id; ``display`` gives an id's name back.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

#: Articles dropped from a title's front, or from its end after a comma ("Godfather, The").
ARTICLES = ("the", "a", "an", "les", "la", "le", "l", "il", "der", "die", "das", "el", "los", "las", "lo")
#: How close a suggestion must be (difflib's ratio of the normalised titles).
SUGGESTION_CUTOFF = 0.6

EXACT, NORMALISED, AMBIGUOUS, UNKNOWN = "exact", "normalised", "ambiguous", "unknown"

_YEAR = re.compile(r"^(.*?)\s*\((\d{4})\)(.*)$")
_ARTICLE_BEHIND = re.compile(rf",\s*({'|'.join(ARTICLES)})$")
_ARTICLE_IN_FRONT = re.compile(rf"^({'|'.join(ARTICLES)})\s+")


@dataclass(frozen=True)
class TitleMatch:
    """How one title a person gave matched the catalogue.

    Attributes:
        query: The title as given.
        title: The catalogue title it resolves to; ``None`` when ambiguous or unknown.
        how: ``"exact"``; ``"normalised"`` (one catalogue title after normalisation);
            ``"ambiguous"`` (several); ``"unknown"`` (none).
        suggestions: Catalogue titles to offer instead: the candidates of an ambiguous title, the
            closest ones of an unknown title (possibly none); empty when resolved.
    """

    query: str
    title: str | None
    how: str
    suggestions: tuple[str, ...] = ()


def _fold(text: str) -> str:
    """Lower case, accents dropped, punctuation inside a word dropped and between words a space."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    letters = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(re.sub(r"[^\w,]+", " ", re.sub(r"(?<=\w)[*.'’](?=\w)|(?<=\w)\.(?!\w)", "", letters)).split())


def _without_article(name: str) -> str:
    name = _ARTICLE_BEHIND.sub("", name).strip(" ,")
    return _ARTICLE_IN_FRONT.sub("", name).replace(",", " ").strip()


def normalise(title: str) -> tuple[str, str | None]:
    """``(name, year)`` of a title as matching compares it: folded, without its article; year ``None`` if absent.

    "Godfather, The (1972)", "The Godfather (1972)" and "the godfather (1972)" all give
    ``("godfather", "1972")``. Text after the year ("(1995) (V)") is left out.
    """
    match = _YEAR.match(title.strip())
    name, year = (match.group(1), match.group(2)) if match else (title, None)
    return _without_article(_fold(name)), year


class Catalogue:
    """A model's titles, indexed for ``match``.

    Args:
        titles: Every title (or item id) the model knows (``EdgeRanker.titles()``).
        names: Each title's display name, in the same order (empty: none), or ``None`` (``EdgeRanker.names()``).
    """

    def __init__(self, titles: Iterable[str], names: Iterable[str] | None = None) -> None:
        self.titles = list(titles)
        self.names = {title: name for title, name in zip(self.titles, names or ()) if name}
        self._known = frozenset(self.titles)
        self._named: dict[str, list[str]] = defaultdict(list)  # a display name as given -> its titles
        for title, name in self.names.items():
            self._named[name].append(title)
        # Built on the first title not given exactly (about 0.5 s for 59,047 titles): exact titles never pay.
        self._by_name_and_year: dict[tuple[str, str | None], list[str]] | None = None
        self._by_name: dict[str, list[str]] = {}
        self._keys: list[str] | None = None  # the folded titles difflib compares, built on the first suggestion

    def _names(self) -> dict[tuple[str, str | None], list[str]]:
        """The catalogue by normalised ``(name, year)``; ``self._by_name`` by name alone, built with it."""
        if self._by_name_and_year is None:
            by_name_and_year: dict[tuple[str, str | None], list[str]] = defaultdict(list)
            for label, title in self._labels():
                name, year = normalise(label)
                for key, table in (((name, year), by_name_and_year), (name, self._by_name)):
                    if title not in table.setdefault(key, []):
                        table[key].append(title)
            self._by_name_and_year = by_name_and_year
        return self._by_name_and_year

    def _labels(self) -> list[tuple[str, str]]:
        """``(text a person may type, title)``: each title, and its display name where it has one."""
        return [(title, title) for title in self.titles] + [(name, title) for title, name in self.names.items()]

    def display(self, title: str) -> str:
        """How a title is shown to a person: its display name, else itself."""
        return self.names.get(title, title)

    def __contains__(self, title: object) -> bool:
        return title in self._known

    def match(self, query: str, suggest: bool = True) -> TitleMatch:
        """Resolves ``query`` to one catalogue title, or says why it cannot (see the module docstring).

        ``suggest=False`` skips looking for the closest titles of an unknown one (a few ms each).
        """
        if query in self._known:
            return TitleMatch(query, query, EXACT)
        if len(self._named.get(query, ())) == 1:
            return TitleMatch(query, self._named[query][0], EXACT)
        name, year = normalise(query)
        by_name_and_year = self._names()
        found = by_name_and_year.get((name, year), []) if year else self._by_name.get(name, [])
        if len(found) == 1:
            return TitleMatch(query, found[0], NORMALISED)
        if found:
            return TitleMatch(query, None, AMBIGUOUS, tuple(found))
        return TitleMatch(query, None, UNKNOWN, tuple(self.suggest(query)) if suggest else ())

    def suggest(self, query: str, count: int = 3) -> list[str]:
        """The ``count`` catalogue titles closest to ``query`` (difflib's ratio of the folded titles), best first."""
        if self._keys is None:
            labels = self._labels()
            self._keys = [_fold(label) for label, _ in labels]
            self._titles_by_key: dict[str, list[str]] = defaultdict(list)
            for key, (_, title) in zip(self._keys, labels):
                self._titles_by_key[key].append(title)
        close = difflib.get_close_matches(_fold(query)[:200], self._keys, n=count, cutoff=SUGGESTION_CUTOFF)
        return list(dict.fromkeys(title for key in dict.fromkeys(close) for title in self._titles_by_key[key]))[:count]
