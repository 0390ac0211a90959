"""Scoring one user against candidate titles with a converted ranker.

The model contract (written by ``converters``): a TFLite flatbuffer with a
signature named ``score`` whose inputs are ``user_id`` (string, shape [1]) and
``movie_title`` (string, shape [N]) and whose output ``rating`` (float32,
shape [N]) is the predicted rating of each title for that user. The
vocabularies live inside the model, so ids and titles go in as raw strings.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_runtime.backend import Backend, load_backend
from edge_runtime.errors import EdgeRankError

SIGNATURE = "score"
USER_INPUT = "user_id"
TITLE_INPUT = "movie_title"
OUTPUT = "rating"

# A TFLite model is a FlatBuffer whose file identifier, at bytes 4..8, is "TFL3".
_FLATBUFFER_IDENTIFIER = b"TFL3"


class ModelError(EdgeRankError):
    """The model file is missing, unreadable, or not an EdgeRank ranker."""


@dataclass(frozen=True)
class ScoredCandidate:
    """A candidate title with its predicted rating."""

    movie_title: str
    score: float


def _check_model_file(path: Path) -> None:
    """Refuses files that are not TFLite models before native code reads them."""
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    with path.open("rb") as handle:
        header = handle.read(8)
    if len(header) < 8 or header[4:8] != _FLATBUFFER_IDENTIFIER:
        raise ModelError(f"not a TFLite model (no TFL3 identifier): {path}")


class EdgeRanker:
    """A converted ranker loaded into a TFLite interpreter.

    One instance owns one interpreter and is not thread-safe: use one per thread.

    Args:
        model_path: Path to the ``.tflite`` file.
        num_threads: Interpreter threads.
        backend: A backend name (see ``edge_runtime.backend``) or a loaded
            ``Backend``; ``None`` picks the first installed.

    Raises:
        ModelError: The file is missing, not a TFLite model, or lacks the
            ``score`` signature.
        BackendUnavailableError: No interpreter is installed.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        *,
        num_threads: int = 1,
        backend: str | Backend | None = None,
    ) -> None:
        self.model_path = Path(model_path)
        _check_model_file(self.model_path)
        self.backend = backend if isinstance(backend, Backend) else load_backend(backend)
        try:
            self._interpreter = self.backend.interpreter_class(
                model_path=str(self.model_path), num_threads=num_threads
            )
        except ValueError as error:
            raise ModelError(f"cannot load {self.model_path}: {error}") from error
        signatures = self._interpreter.get_signature_list()
        expected = {"inputs": sorted([USER_INPUT, TITLE_INPUT]), "outputs": [OUTPUT]}
        found = signatures.get(SIGNATURE)
        if found is None or {k: sorted(v) for k, v in found.items()} != expected:
            raise ModelError(
                f"{self.model_path} has no {SIGNATURE!r} signature with inputs "
                f"{expected['inputs']} and output {OUTPUT!r}; it has {signatures}"
            )
        self._runner = self._interpreter.get_signature_runner(SIGNATURE)

    def score(self, user_id: str, candidates: Sequence[str]) -> np.ndarray:
        """Predicts the rating of every candidate for one user.

        Args:
            user_id: The user's id as a string (e.g. ``"42"``).
            candidates: Movie titles as strings.

        Returns:
            float32 array with one score per candidate, in input order.
        """
        if len(candidates) == 0:
            return np.zeros(0, dtype=np.float32)
        outputs = self._runner(
            **{
                USER_INPUT: np.array([user_id.encode()], dtype=np.object_),
                TITLE_INPUT: np.array([title.encode() for title in candidates], dtype=np.object_),
            }
        )
        return np.asarray(outputs[OUTPUT], dtype=np.float32).reshape(len(candidates))

    def rank(
        self, user_id: str, candidates: Sequence[str], k: int | None = None
    ) -> list[ScoredCandidate]:
        """Scores the candidates and returns the best ``k``, best first.

        Args:
            user_id: The user's id as a string.
            candidates: Movie titles as strings.
            k: How many to return; ``None`` returns all.

        Returns:
            Candidates sorted by descending score (ties keep input order).
        """
        scores = self.score(user_id, candidates)
        order = np.argsort(-scores, kind="stable")[:k]
        return [ScoredCandidate(candidates[i], float(scores[i])) for i in order]
