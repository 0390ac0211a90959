"""TF-free scoring of converted EdgeRank rankers on the device.

Imports numpy and one TFLite interpreter (``ai_edge_litert``, else
``tflite_runtime``) and nothing heavier, so it runs on a phone-class CPU or a
Raspberry Pi, and nothing else of this repository: it stands alone. It reads
a model bundle: a ``.tflite`` file and the ``manifest.json`` whose checksum
guards it (``edge_runtime.manifest``, ``edge_runtime.ranker``). A history
model takes the user's own ratings (``personalize``, ``score``, ``recommend``;
``edge_runtime.history``); an id model a ``user_id`` (``score``). The
signatures' names are in ``edge_runtime.contract``.
"""

from edge_runtime.errors import EdgeRankError
from edge_runtime.backend import Backend, BackendUnavailableError, load_backend
from edge_runtime.history import HistoryError, UserState, read_history
from edge_runtime.manifest import ModelError
from edge_runtime.ranker import EdgeRanker, InputError, Ranking, ScoredCandidate

__all__ = [
    "Backend",
    "BackendUnavailableError",
    "EdgeRankError",
    "EdgeRanker",
    "HistoryError",
    "InputError",
    "ModelError",
    "Ranking",
    "ScoredCandidate",
    "UserState",
    "load_backend",
    "read_history",
]
