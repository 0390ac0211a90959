"""``edgerank recommend``: two-stage recommend, all on the device or with a server's candidates.

With ``--history`` and a history bundle, both stages run on the device from
the user's own ratings (``EdgeRanker.recommend``): no server, no user id.
With ``--user`` (an id model, the tutorials'): given a hand-off file, it runs the device half only
(``edge_runtime.recommend.rank_handoff``), with nothing but the edge client
installed. Without one, it first runs the server half, ``edgerank retrieve``
(the query model and the ScaNN index), in a child process that needs the
trainer's environment, so this process never imports TensorFlow either way.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_runtime.handoff import read_handoff
from edge_runtime.history import read_history
from edge_runtime.ranker import HISTORY_KIND, EdgeRanker
from edge_runtime.recommend import RecommendError, rank_handoff, recommend_on_device


@dataclass
class RecommendConfig:
    """``edgerank recommend``.

    Attributes:
        history: The user's own ratings (title,rating CSV or JSON lines; - reads standard input), for a
            history bundle: everything runs on the device.
        user: The user id, for an id bundle (candidates from the server's retrieval model).
        k: Recommendations to return.
        model: The ranker bundle that ranks the candidates on the device.
        handoff: A hand-off file from ``edgerank retrieve``; empty retrieves here first.
        retrieval: The retrieval model, when retrieving here.
        candidates: Candidates to retrieve (on the device with --history) before ranking.
        exclude_rated: Leave out titles the user rated in training, when retrieving here.
        backend: Interpreter backend; empty for the first installed.
    """

    history: str = ""
    user: str = ""
    k: int = 10
    model: str = "artifacts/edge/history-int8"
    handoff: str = ""
    retrieval: str = "artifacts/retrieval"
    candidates: int = 300
    exclude_rated: bool = True
    backend: str = ""


def retrieve_in_child(config: RecommendConfig, handoff: Path) -> None:
    """Runs ``edgerank retrieve`` for ``config.user`` in a child process, writing ``handoff``.

    Raises:
        RecommendError: The child failed; its last line of standard error says why.
    """
    command = [sys.executable, "-m", "edgerank", "retrieve", "--retrieval", config.retrieval,
               "--user", config.user, "--k", str(config.candidates), "--output", str(handoff),
               "--exclude-rated" if config.exclude_rated else "--no-exclude-rated"]
    child = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if child.returncode != 0:
        reason = (child.stderr.strip().splitlines() or [f"status {child.returncode}"])[-1]
        raise RecommendError(f"retrieval failed: {reason}")


def recommend(config: RecommendConfig) -> dict[str, Any]:
    """Retrieves (or reads) the user's candidates and ranks them on the edge client.

    Returns:
        What ``edge_runtime.recommend.rank_handoff`` returns, best first.

    Raises:
        RecommendError, HandoffError, ModelError: Naming what is wrong.
    """
    if config.k < 1 or config.candidates < 1:
        raise RecommendError(f"k and candidates must be >= 1, got {config.k} and {config.candidates}")
    ranker = EdgeRanker(config.model, backend=config.backend or None)
    if ranker.kind == HISTORY_KIND:
        if not config.history:
            raise RecommendError(f"{config.model} takes the user's own ratings: pass --history FILE "
                                 "(title,rating lines; - reads standard input)")
        return recommend_on_device(ranker, read_history(config.history, ranker.rating_range), config.k,
                                   config.candidates)
    if config.history:
        raise RecommendError(f"{config.model} looks users up by id and cannot take --history: use --user, "
                             "or a history bundle (edgerank convert --saved-model artifacts/history)")
    if not config.user:
        raise RecommendError("--user is required")
    if config.handoff:
        handoff = read_handoff(config.handoff)
    else:
        with tempfile.TemporaryDirectory(prefix="edgerank-handoff-") as folder:
            path = Path(folder) / "handoff.json"
            retrieve_in_child(config, path)
            handoff = read_handoff(path)
    return rank_handoff(ranker, handoff, config.user, config.k)
