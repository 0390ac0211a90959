"""The hand-off file between server-side retrieval and on-device ranking.

``edgerank retrieve`` (on a server, with TensorFlow and ScaNN) writes it;
``edgerank recommend`` (on the device, with the edge client alone) reads it,
ranks the candidates with the bundle's ranker and keeps the best k. The two
halves can run on different machines: only this file travels. Schema
(version 1), UTF-8 JSON::

    {
      "schema_version": 1,
      "user_id": "42",
      "candidates": [{"movie_title": "Rudy (1993)", "retrieval_score": 2.36}, …],   # best first
      "retrieval": {"model": "artifacts/retrieval/1", "version": 1, "index": "scann",
                    "k": 300, "exclude_rated": true},
      "created": "2026-11-23T10:00:00+00:00"
    }

Standard library only.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_runtime import atomic
from edge_runtime.contract import utc_timestamp
from edge_runtime.errors import EdgeRankError

SCHEMA_VERSION = 1


class HandoffError(EdgeRankError):
    """The hand-off file is missing, not JSON, or does not follow the schema."""


@dataclass(frozen=True)
class Handoff:
    """One user's retrieved candidates.

    Attributes:
        user_id: The user.
        titles: Candidate titles, best retrieval score first.
        retrieval_scores: Their retrieval scores (dot products of the towers).
        retrieval: How they were retrieved (model, version, index, k, exclusion).
    """

    user_id: str
    titles: list[str]
    retrieval_scores: list[float]
    retrieval: dict[str, Any]


def write_handoff(path: str | os.PathLike[str], handoff: Handoff) -> Path:
    """Writes ``handoff`` to ``path`` atomically; returns the path."""
    return atomic.write_bytes(path, (json.dumps({
        "schema_version": SCHEMA_VERSION,
        "user_id": handoff.user_id,
        "candidates": [{"movie_title": title, "retrieval_score": score}
                       for title, score in zip(handoff.titles, handoff.retrieval_scores)],
        "retrieval": handoff.retrieval,
        "created": utc_timestamp(),
    }, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))


def read_handoff(path: str | os.PathLike[str]) -> Handoff:
    """Reads and checks a hand-off file.

    Raises:
        HandoffError: Naming what is wrong.
    """
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise HandoffError(f"cannot read the hand-off file {path}: {error}") from error
    if not isinstance(payload, dict) or payload.get("schema_version") != SCHEMA_VERSION:
        raise HandoffError(f"{path} is not a hand-off file of schema version {SCHEMA_VERSION}")
    candidates = payload.get("candidates")
    if not isinstance(payload.get("user_id"), str) or not isinstance(candidates, list) or not all(
            isinstance(c, dict) and isinstance(c.get("movie_title"), str)
            and isinstance(c.get("retrieval_score"), (int, float)) for c in candidates):
        raise HandoffError(f"{path}: needs a string user_id and candidates of movie_title and retrieval_score")
    return Handoff(payload["user_id"], [c["movie_title"] for c in candidates],
                   [float(c["retrieval_score"]) for c in candidates], dict(payload.get("retrieval") or {}))
