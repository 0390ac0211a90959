"""TF-free scoring of converted EdgeRank rankers on the device.

Imports numpy and one TFLite interpreter (``ai_edge_litert``, else
``tflite_runtime``) and nothing heavier, so it runs on a phone-class CPU or a
Raspberry Pi, and nothing else of this repository: it stands alone. It reads
a model bundle: a ``.tflite`` file and the ``manifest.json`` whose checksum
guards it (``edge_runtime.manifest``, ``edge_runtime.ranker``). A history
model takes the user's own ratings (``personalize``, ``score``, ``recommend``;
``edge_runtime.history``); an id model a ``user_id`` (``score``). Titles typed
as people type them are matched to the catalogue by ``edge_runtime.titles``.
The signatures' names are in ``edge_runtime.contract``.
"""

from edge_runtime.errors import EdgeRankError
from edge_runtime.backend import Backend, BackendUnavailableError, load_backend
from edge_runtime.history import HistoryError, MatchedHistory, UserState, match_history, read_history
from edge_runtime.manifest import ModelError
from edge_runtime.ranker import EdgeRanker, InputError, Ranking, ScoredCandidate
from edge_runtime.titles import Catalogue, TitleMatch

__all__ = [
    "Backend",
    "BackendUnavailableError",
    "Catalogue",
    "EdgeRankError",
    "EdgeRanker",
    "HistoryError",
    "InputError",
    "MatchedHistory",
    "ModelError",
    "Ranking",
    "ScoredCandidate",
    "TitleMatch",
    "UserState",
    "load_backend",
    "match_history",
    "read_history",
]
