"""Matching typed titles to a catalogue (``edge_runtime.titles``) and a history to it (``match_history``)."""

from __future__ import annotations

import pytest

from edge_runtime import Catalogue, match_history
from edge_runtime.history import SUGGESTED_TITLES
from edge_runtime.titles import AMBIGUOUS, EXACT, NORMALISED, UNKNOWN, normalise

CATALOGUE = Catalogue(["Godfather, The (1972)", "Godfather: Part II, The (1974)", "Sabrina (1954)", "Sabrina (1995)",
                       "Misérables, Les (1995)", "M*A*S*H (1970)", "Alien (1979)", "Schindler's List (1993)",
                       "Amelie (2001)", "A Simple Plan (1998)", "Land Before Time III (1995) (V)"])


@pytest.mark.parametrize("typed, title", [
    ("Godfather, The (1972)", "Godfather, The (1972)"),
    ("The Godfather (1972)", "Godfather, The (1972)"),
    ("the godfather", "Godfather, The (1972)"),
    ("GODFATHER", "Godfather, The (1972)"),
    ("  godfather,  the  (1972) ", "Godfather, The (1972)"),
    ("The Godfather: Part II", "Godfather: Part II, The (1974)"),
    ("les miserables", "Misérables, Les (1995)"),
    ("Les Misérables (1995)", "Misérables, Les (1995)"),
    ("mash", "M*A*S*H (1970)"),
    ("M.A.S.H.", "M*A*S*H (1970)"),
    ("schindlers list", "Schindler's List (1993)"),
    ("Amélie", "Amelie (2001)"),
    ("simple plan", "A Simple Plan (1998)"),
    ("land before time iii", "Land Before Time III (1995) (V)"),
])
def test_a_title_typed_as_people_type_it_resolves_to_one(typed: str, title: str) -> None:
    match = CATALOGUE.match(typed)
    assert match.title == title and match.how == (EXACT if typed == title else NORMALISED)
    assert match.suggestions == ()


def test_ambiguous_and_unknown_titles_are_not_guessed() -> None:
    ambiguous = CATALOGUE.match("sabrina")
    assert ambiguous.how == AMBIGUOUS and ambiguous.title is None
    assert ambiguous.suggestions == ("Sabrina (1954)", "Sabrina (1995)")
    assert CATALOGUE.match("Sabrina (1995)").title == "Sabrina (1995)"  # the year settles it
    typo = CATALOGUE.match("Alein (1979)")
    assert typo.how == UNKNOWN and typo.title is None and typo.suggestions[0] == "Alien (1979)"
    assert CATALOGUE.match("Alien (1980)").title is None  # a wrong year is not another film's
    assert CATALOGUE.match("Zzzz", suggest=False).suggestions == ()
    assert CATALOGUE.match("").how == UNKNOWN and CATALOGUE.match("\x07\x1b[31m").how == UNKNOWN


def test_normalise_drops_case_accents_punctuation_and_the_article() -> None:
    assert normalise("Godfather, The (1972)") == normalise("The Godfather (1972)") == ("godfather", "1972")
    assert normalise("Misérables, Les") == ("miserables", None)
    assert normalise("Land Before Time III (1995) (V)") == ("land before time iii", "1995")


def test_a_history_is_matched_deduplicated_and_reported() -> None:
    history = [("the godfather", 5.0), ("Sabrina", 3.0), ("Alein (1979)", 4.0), ("Godfather, The (1972)", 4.0),
               ("mash", 2.0), ("Alein (1979)", 1.0)]
    matched = match_history(history, CATALOGUE)
    # The last rating of a title counts, at its last position.
    assert matched.pairs == [("Godfather, The (1972)", 4.0), ("M*A*S*H (1970)", 2.0)]
    assert matched.repeated == {"Godfather, The (1972)": 2}
    assert [(m.query, m.how) for m in matched.matches] == [("the godfather", NORMALISED), ("Sabrina", AMBIGUOUS),
                                                          ("Alein (1979)", UNKNOWN), ("mash", NORMALISED)]
    assert [m.query for m in matched.unresolved] == ["Sabrina", "Alein (1979)"]


def test_only_the_first_unknown_titles_get_suggestions() -> None:
    # Suggestions cost a few ms each: a history of thousands of unknown titles must not take minutes.
    history = [(f"Alein {i} (1979)", 3.0) for i in range(SUGGESTED_TITLES + 30)]
    matches = match_history(history, CATALOGUE).matches
    assert len(matches) == SUGGESTED_TITLES + 30
    assert all(m.suggestions for m in matches[:SUGGESTED_TITLES])
    assert not any(m.suggestions for m in matches[SUGGESTED_TITLES:])


def test_items_with_display_names_are_matched_by_id_or_name_and_shown_by_name() -> None:
    # A log other than MovieLens: the bundle's vocabulary is item ids, names.txt names them.
    catalogue = Catalogue(["51", "52", "89", "90"], ["Radiohead", "Muse", "The Beatles", ""])
    assert (catalogue.match("52").title, catalogue.match("52").how) == ("52", EXACT)
    assert (catalogue.match("Radiohead").title, catalogue.match("Radiohead").how) == ("51", EXACT)
    assert (catalogue.match("beatles").title, catalogue.match("beatles").how) == ("89", NORMALISED)
    unknown = catalogue.match("Radiohed")
    assert unknown.how == UNKNOWN and unknown.suggestions == ("51",)
    assert [catalogue.display(title) for title in ("51", "89", "90")] == ["Radiohead", "The Beatles", "90"]
    history = match_history([("radiohead", 120.0), ("51", 3.0), ("Muse", 40.0)], catalogue)
    assert history.pairs == [("51", 3.0), ("52", 40.0)] and history.repeated == {"51": 2}
