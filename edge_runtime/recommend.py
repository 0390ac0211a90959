"""Two-stage recommend: candidates retrieved on a server, ranked on the device.

The server half (``edgerank retrieve``: the query tower and the ScaNN index)
returns a few hundred candidates in a hand-off file (``edge_runtime.handoff``);
the device half ranks them with the bundle's ranker and keeps the best k.
Given a hand-off file, ``recommend`` runs the device half only, with nothing
but the edge client installed; without one, it runs ``edgerank retrieve`` in a
child process first (which needs the trainer's environment), so this process
never imports TensorFlow either way.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_runtime.errors import EdgeRankError
from edge_runtime.handoff import read_handoff
from edge_runtime.ranker import EdgeRanker


@dataclass
class RecommendConfig:
    """``edgerank recommend``.

    Attributes:
        user: The user id.
        k: Recommendations to return.
        model: The ranker bundle that ranks the candidates on the device.
        handoff: A hand-off file from ``edgerank retrieve``; empty retrieves here first.
        retrieval: The retrieval model, when retrieving here.
        candidates: Candidates to retrieve, when retrieving here.
        exclude_rated: Leave out titles the user rated in training, when retrieving here.
        backend: Interpreter backend; empty for the first installed.
    """

    user: str = ""
    k: int = 10
    model: str = "artifacts/edge/int8"
    handoff: str = ""
    retrieval: str = "artifacts/retrieval"
    candidates: int = 300
    exclude_rated: bool = True
    backend: str = ""


class RecommendError(EdgeRankError):
    """A missing user, a bad k, a hand-off for another user, or a failed retrieval."""


def _retrieve_in_child(config: RecommendConfig, handoff: Path) -> None:
    command = [sys.executable, "-m", "edge_runtime.cli", "retrieve", "--retrieval", config.retrieval,
               "--user", config.user, "--k", str(config.candidates), "--output", str(handoff),
               "--exclude-rated" if config.exclude_rated else "--no-exclude-rated"]
    child = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if child.returncode != 0:
        reason = (child.stderr.strip().splitlines() or [f"status {child.returncode}"])[-1]
        raise RecommendError(f"retrieval failed: {reason}")


def recommend(config: RecommendConfig) -> dict[str, Any]:
    """Retrieves (or reads) the user's candidates and ranks them on the edge client.

    Returns:
        ``{"user_id", "user_known", "backend", "retrieval": {…}, "recommendations":
        [{"movie_title", "score", "retrieval_score", "known"}, …]}``, best first.

    Raises:
        RecommendError, HandoffError, ModelError: Naming what is wrong.
    """
    if not config.user:
        raise RecommendError("--user is required")
    if config.k < 1 or config.candidates < 1:
        raise RecommendError(f"k and candidates must be >= 1, got {config.k} and {config.candidates}")
    ranker = EdgeRanker(config.model, backend=config.backend or None)
    if config.handoff:
        handoff = read_handoff(config.handoff)
    else:
        with tempfile.TemporaryDirectory(prefix="edgerank-handoff-") as folder:
            path = Path(folder) / "handoff.json"
            _retrieve_in_child(config, path)
            handoff = read_handoff(path)
    if handoff.user_id != config.user:
        raise RecommendError(f"the hand-off file is for user {handoff.user_id!r}, not {config.user!r}")
    ranking = ranker.rank(config.user, handoff.titles, k=config.k)
    retrieval_score = dict(zip(handoff.titles, handoff.retrieval_scores))
    return {
        "user_id": ranking.user_id,
        "user_known": ranking.user_known,
        "backend": f"{ranker.backend.name} {ranker.backend.version}",
        "retrieval": {**handoff.retrieval, "candidates": len(handoff.titles)},
        "recommendations": [{**dataclasses.asdict(c), "retrieval_score": retrieval_score[c.movie_title]}
                            for c in ranking.candidates],
    }
