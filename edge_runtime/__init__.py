"""TF-free scoring of converted EdgeRank rankers on the device.

Imports numpy and one TFLite interpreter (``ai_edge_litert``, else
``tflite_runtime``) and nothing heavier, so it runs on a phone-class CPU or a
Raspberry Pi. The model contract it reads is documented in the README
("Artifact layout"): a ``.tflite`` file with a ``score`` signature that takes
one ``user_id`` and N ``movie_title`` strings and returns N ``rating`` floats.
"""

from edge_runtime.errors import EdgeRankError
from edge_runtime.backend import Backend, BackendUnavailableError, load_backend
from edge_runtime.ranker import EdgeRanker, ModelError, ScoredCandidate

__all__ = [
    "Backend",
    "BackendUnavailableError",
    "EdgeRankError",
    "EdgeRanker",
    "ModelError",
    "ScoredCandidate",
    "load_backend",
]
