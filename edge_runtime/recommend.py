"""Two-stage recommend on the device: from a history alone, or ranking a hand-off file's candidates.

``recommend_on_device`` needs no server at all: a history model retrieves
candidates from the user's own ratings and ranks them (``EdgeRanker.recommend``).

A server retrieves a few hundred candidates for a user and writes them to a
hand-off file (``edge_runtime.handoff``); the device ranks them with the
bundle's ranker and keeps the best k. Only the file travels, so this half
needs nothing but the edge client. (``edgerank recommend`` runs the server
half too when it is given no hand-off file.)
"""

from __future__ import annotations

import dataclasses
from typing import Any

from edge_runtime.errors import EdgeRankError
from edge_runtime.handoff import Handoff
from edge_runtime.manifest import ModelError
from edge_runtime.ranker import EdgeRanker


class RecommendError(EdgeRankError):
    """A missing user, a bad k, a hand-off for another user, or a failed retrieval."""


def recommend_on_device(ranker: EdgeRanker, history: Any, k: int, retrieve_k: int) -> dict[str, Any]:
    """Retrieves ``retrieve_k`` titles from the history on the device, ranks them and keeps the best ``k``.

    What comes back is counted, not echoed: the model retrieves at most its ``recommend_k`` titles
    (and fewer when the catalogue has fewer unrated ones), so ``retrieval.candidates`` and
    ``returned`` may be less than asked.

    Returns:
        ``{"backend", "history": {"rated", "unknown_titles"}, "retrieval": {"on_device", "requested",
        "candidates", "recommend_k"}, "k", "returned", "recommendations": [{"movie_title", "score",
        "known"}, …]}``, best first; each recommendation has a ``"name"`` too when the bundle has names.
    """
    if k < 1:
        raise RecommendError(f"k must be >= 1, got {k}")
    state = ranker.personalize(history)
    retrieved = ranker.retrieve(state, max(retrieve_k, k))
    ranking = ranker.rank(state, retrieved, k)
    return {
        "backend": f"{ranker.backend.name} {ranker.backend.version}",
        "history": {"rated": len(state.rated_titles), "unknown_titles": list(state.unknown_titles)},
        "retrieval": {"on_device": True, "requested": max(retrieve_k, k), "candidates": len(retrieved),
                      "recommend_k": ranker.recommend_k},
        "k": k,
        "returned": len(ranking.candidates),
        "recommendations": named(ranker, [dataclasses.asdict(candidate) for candidate in ranking.candidates]),
    }


def named(ranker: EdgeRanker, candidates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Candidates (``{"movie_title", …}``) with each one's display ``"name"`` added, when the bundle has names."""
    try:
        catalogue = ranker.catalogue()  # read once per ranker: the names with the titles
    except ModelError:  # a bare model, without a bundle's files
        return candidates
    if not catalogue.names:
        return candidates
    return [{**candidate, "name": catalogue.display(candidate["movie_title"])} for candidate in candidates]


def rank_handoff(ranker: EdgeRanker, handoff: Handoff, user: str, k: int) -> dict[str, Any]:
    """Ranks the hand-off's candidates for ``user`` and keeps the best ``k``.

    Args:
        ranker: The bundle's ranker.
        handoff: The user's retrieved candidates.
        user: The user id; must be the hand-off's.
        k: Recommendations to return (>= 1).

    Returns:
        ``{"user_id", "user_known", "backend", "retrieval": {…}, "recommendations":
        [{"movie_title", "score", "known", "retrieval_score"}, …]}``, best first.

    Raises:
        RecommendError: No user, a k below 1, or a hand-off for another user.
    """
    if not user:
        raise RecommendError("--user is required")
    if k < 1:
        raise RecommendError(f"k must be >= 1, got {k}")
    if handoff.user_id != user:
        raise RecommendError(f"the hand-off file is for user {handoff.user_id!r}, not {user!r}")
    ranking = ranker.rank(user, handoff.titles, k=k)
    retrieval_score = dict(zip(handoff.titles, handoff.retrieval_scores))
    return {
        "user_id": ranking.user_id,
        "user_known": ranking.user_known,
        "backend": f"{ranker.backend.name} {ranker.backend.version}",
        "retrieval": {**handoff.retrieval, "candidates": len(handoff.titles)},
        "k": k,
        "returned": len(ranking.candidates),
        "recommendations": [{**dataclasses.asdict(c), "retrieval_score": retrieval_score[c.movie_title]}
                            for c in ranking.candidates],
    }
