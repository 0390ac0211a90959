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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_runtime.backend import BACKEND_NAMES
from edge_runtime.handoff import read_handoff
from edge_runtime.ranker import HISTORY_KIND, EdgeRanker
from edge_runtime.recommend import RecommendError, rank_handoff, recommend_on_device
from edgerank.default_model import resolve_model
from edgerank.history_file import personalize_file


@dataclass
class RecommendConfig:
    """``edgerank recommend``.

    Attributes:
        history: The user's own ratings, for a history bundle (everything then runs on the device):
            title,rating lines (comma- or tab-separated), JSON lines or a JSON array of {"title": …,
            "rating": …}; - reads standard input.
        user: The user id, for an id bundle (candidates from the server's retrieval model).
        k: Recommendations to return, at least 1 (a history bundle returns at most its recommend_k,
            300 by default, and says so).
        model: The bundle that ranks the candidates on the device (none: $EDGERANK_MODEL, else the
            bundle the last edgerank convert wrote, else artifacts/edge/history-int8).
        handoff: A hand-off file (the server's candidates for one user) from ``edgerank retrieve``;
            empty retrieves here first.
        retrieval: The retrieval model, when retrieving here.
        retrieve_k: How many titles to retrieve before ranking them (on the device, at most the bundle's
            recommend_k; at least k).
        exclude_rated: Leave out titles the user rated in training, when retrieving here.
        strict: Refuse a history in which any title is unknown or matches several catalogue titles.
        allow_empty_history: Recommend for the average user when the history holds no title the model
            knows (without it that is an error).
        backend: Interpreter backend (none: the first installed).
    """

    history: str = ""
    user: str = ""
    k: int = 10
    model: str = ""
    handoff: str = ""
    retrieval: str = "artifacts/retrieval"
    retrieve_k: int = 300
    exclude_rated: bool = True
    strict: bool = False
    allow_empty_history: bool = False
    backend: str = field(default="", metadata={"choices": BACKEND_NAMES})


def retrieve_in_child(config: RecommendConfig, handoff: Path) -> None:
    """Runs ``edgerank retrieve`` for ``config.user`` in a child process, writing ``handoff``.

    Raises:
        RecommendError: The child failed; its last line of standard error says why.
    """
    command = [sys.executable, "-m", "edgerank", "retrieve", "--retrieval", config.retrieval,
               "--user", config.user, "--k", str(config.retrieve_k), "--output", str(handoff),
               "--exclude-rated" if config.exclude_rated else "--no-exclude-rated"]
    child = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if child.returncode != 0:
        reason = (child.stderr.strip().splitlines() or [f"status {child.returncode}"])[-1]
        raise RecommendError(f"retrieval failed: {reason}")


def recommend(config: RecommendConfig) -> dict[str, Any]:
    """Retrieves (or reads) the user's candidates and ranks them on the edge client.

    Returns:
        What ``edge_runtime.recommend.recommend_on_device`` returns (its ``"history"`` the file's
        report, ``edgerank.history_file``), or ``rank_handoff`` for an id bundle; best first.

    Raises:
        RecommendError, HandoffError, ModelError: Naming what is wrong.
    """
    for flag, value in (("--k", config.k), ("--retrieve-k", config.retrieve_k)):
        if value < 1:
            raise RecommendError(f"{flag} must be >= 1, got {value}")
    model = resolve_model(config.model)
    ranker = EdgeRanker(model, backend=config.backend or None)
    if ranker.kind == HISTORY_KIND:
        if not config.history:
            raise RecommendError(f"{model} takes the user's own ratings: pass --history FILE "
                                 "(title,rating lines; - reads standard input)")
        state, report = personalize_file(ranker, config.history, config.strict, config.allow_empty_history)
        return {**recommend_on_device(ranker, state, config.k, config.retrieve_k), "history": report}
    if config.history:
        raise RecommendError(f"{model} looks users up by id and cannot take --history: use --user, "
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
