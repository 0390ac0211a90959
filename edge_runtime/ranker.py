"""Scoring one user against candidate titles with a converted ranker.

The model honours the device contract (``edge_runtime.contract``). A history
model (``kind == "history"``) takes the user's own ratings: ``personalize``
turns them into a ``UserState`` kept on the device, ``score`` rates
candidates for it and ``recommend`` ranks the whole catalogue with no server
call. An id model (``kind == "user_id"``, the tutorials') scores a ``user_id``
it was trained with. The vocabularies live inside the model, so titles (and
ids) go in as raw strings.

Out-of-vocabulary behaviour: an unknown user id or title maps to the model's
single out-of-vocabulary embedding and still gets a score; the result flags it
(``Ranking.user_known``, ``ScoredCandidate.known``) so callers can drop or
demote it.
"""

from __future__ import annotations

import contextlib
import math
import os
import subprocess
import sys
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import numpy as np

from edge_runtime.backend import Backend, load_backend, native_logs_hidden
from edge_runtime.contract import (EXCLUDED_SCORE, HISTORY_SIGNATURES, INPUTS, OUTPUTS, PERSONALIZE_SIGNATURE,
                                   RECOMMEND_SIGNATURE, RETRIEVED_TITLES_OUTPUT, SHAPED_LIKE, SIGNATURE)
from edge_runtime.errors import EdgeRankError
from edge_runtime.history import UserState, clean_history
from edge_runtime.manifest import ModelError, VerifiedModel, load_model, read_names, read_titles
from edge_runtime.titles import Catalogue

#: Candidates per interpreter call; longer lists are scored in chunks of this size.
DEFAULT_CHUNK_SIZE = 1024
#: ``EdgeRanker.kind`` of a model that takes the user's history, and of one that takes a user id.
HISTORY_KIND, USER_ID_KIND = "history", "user_id"
#: Titles ``EdgeRanker.recommend`` retrieves on the device before ranking them.
RETRIEVED_CANDIDATES = 300

_SHAPE = attrgetter("shape")


class InputError(EdgeRankError):
    """A user id or candidate that cannot be scored (wrong type, not UTF-8)."""


@dataclass(frozen=True)
class ScoredCandidate:
    """A candidate title, its predicted rating, and whether the model knows it."""

    movie_title: str
    score: float
    known: bool


@dataclass(frozen=True)
class Ranking:
    """One user's candidates, best first.

    Attributes:
        user_id: The user, as scored; ``None`` for a history model (no id is involved).
        user_known: False if the model has never seen this user (the scores
            then come from the shared out-of-vocabulary user embedding);
            ``None`` when there were no candidates, so nothing was scored, and
            for a history model.
        candidates: Distinct titles by descending score (ties keep input order).
        unknown_history: History titles the model does not know and ignored (history models).
    """

    user_id: str | None
    user_known: bool | None
    candidates: list[ScoredCandidate]
    unknown_history: tuple[str, ...] = ()


def _text(value: Any, what: str) -> tuple[str, bytes]:
    """``value`` as (text, UTF-8 bytes); ints are taken as their decimal id."""
    if isinstance(value, str):
        try:
            return value, value.encode("utf-8")
        except UnicodeEncodeError as error:
            raise InputError(f"{what} is not valid text: {error.reason} at character {error.start}") from None
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8"), value
        except UnicodeDecodeError as error:
            raise InputError(f"{what} is not UTF-8: {error.reason} at byte {error.start}") from None
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return str(value), str(value).encode()
    raise InputError(f"{what} must be a string, got {type(value).__name__}")


def _titles(candidates: Sequence[Any]) -> tuple[list[str], list[str] | list[bytes]]:
    """Candidates as (texts, what the interpreter takes): ``str`` as they are, anything else as UTF-8 bytes."""
    if isinstance(candidates, (str, bytes)):
        raise InputError("candidates must be a sequence of titles, not a single string")
    texts = candidates if type(candidates) is list else (  # a list is read, never changed: no copy
        candidates.tolist() if isinstance(candidates, np.ndarray) else list(candidates))
    try:  # the common case: every title a str that UTF-8 can encode, which the interpreter encodes itself
        "".join(texts).encode("utf-8")
        return texts, texts
    except (TypeError, UnicodeEncodeError):
        pairs = [_text(title, f"candidate {i}") for i, title in enumerate(texts)]
        return [text for text, _ in pairs], [data for _, data in pairs]


def _describe(details: dict[str, dict], inputs: dict[str, dict] | None = None) -> dict[str, dict]:
    """Tensor details as ``{name: {"dtype": "string"|"float32"|…, "shape": [...]}}``, -1 for any size.

    An output the interpreter gives no shape (``[]``) that the contract shapes like an input
    (``SHAPED_LIKE``: one rating per title) takes that input's shape from ``inputs``.
    """
    described = {}
    for name, detail in sorted(details.items()):
        dtype = np.dtype(detail["dtype"]).name
        shape = [int(n) for n in detail["shape_signature"]]
        if not shape and inputs and SHAPED_LIKE.get(name) in inputs:
            shape = list(inputs[SHAPED_LIKE[name]]["shape"])
        described[name] = {"dtype": "string" if dtype == "bytes" else dtype, "shape": shape}
    return described


class _Signature:
    """One signature of an interpreter: its inputs in, its outputs out, each in the order given.

    It runs exactly what the interpreter's ``SignatureRunner`` runs, with one
    difference: ``SignatureRunner`` resizes every input and reallocates the
    subgraph's tensors on every call, which costs more than scoring 100
    titles, while this allocates only when an input's shape differs from the
    previous call's (scoring the same number of candidates again does not).
    It calls the methods ``SignatureRunner`` calls, on the interpreter's
    native wrapper (the same in LiteRT, tflite-runtime and TensorFlow); an
    interpreter without them is called through its ``SignatureRunner``.
    """

    _METHODS = ("GetSubgraphIndexFromSignature", "ResizeInputTensor", "AllocateTensors", "SetTensor", "Invoke",
                "GetTensor")

    def __init__(self, interpreter: Any, name: str, inputs: Sequence[str], outputs: Sequence[str]) -> None:
        self.runner = interpreter.get_signature_runner(name)
        input_details, output_details = self.runner.get_input_details(), self.runner.get_output_details()
        # Read before any resize: afterwards the interpreter reports the current shapes.
        described_inputs = _describe(input_details)
        self.description = {"name": name, "inputs": described_inputs,
                            "outputs": _describe(output_details, described_inputs)}
        self.input_names, self.output_names = tuple(inputs), tuple(outputs)
        self.input_indices = [input_details[key]["index"] for key in inputs]
        self.output_indices = [output_details[key]["index"] for key in outputs]
        wrapper = getattr(interpreter, "_interpreter", None)
        self.wrapper = wrapper if all(hasattr(wrapper, method) for method in self._METHODS) else None
        self.subgraph = None if self.wrapper is None else self.wrapper.GetSubgraphIndexFromSignature(name)
        self.shapes: list[tuple[int, ...]] | None = None  # the inputs' shapes as last allocated

    def __call__(self, *values: np.ndarray) -> list[np.ndarray]:
        """Runs the signature on ``values`` (in the order of ``inputs``); returns copies of ``outputs``."""
        if self.wrapper is None:
            result = self.runner(**dict(zip(self.input_names, values)))
            return [result[key] for key in self.output_names]
        get_tensor, subgraph = self._invoke(values)
        return [get_tensor(index, subgraph) for index in self.output_indices]

    def first(self, *values: np.ndarray) -> np.ndarray:
        """``self(*values)[0]``, without copying the other outputs."""
        if self.wrapper is None:
            return self(*values)[0]
        get_tensor, subgraph = self._invoke(values)
        return get_tensor(self.output_indices[0], subgraph)

    def _invoke(self, values: tuple[np.ndarray, ...]) -> tuple[Any, int]:
        """Sets the inputs (allocating first if a shape changed) and invokes; returns ``(GetTensor, subgraph)``."""
        wrapper, subgraph = self.wrapper, self.subgraph
        shapes = list(map(_SHAPE, values))
        if shapes != self.shapes:
            first, self.shapes = self.shapes is None, None  # until the allocation succeeds
            for index, shape in zip(self.input_indices, shapes):
                wrapper.ResizeInputTensor(index, np.array(shape, np.int32), False, subgraph)
            with native_logs_hidden() if first else contextlib.nullcontext():  # LiteRT announces XNNPACK here
                wrapper.AllocateTensors(subgraph)
            self.shapes = shapes
        set_tensor = wrapper.SetTensor
        for index, value in zip(self.input_indices, values):
            set_tensor(index, value, subgraph)
        wrapper.Invoke(subgraph)
        return wrapper.GetTensor, subgraph


class _Session:
    """One interpreter with its signatures, owned by one thread.

    ``score`` is the ``score`` signature of either kind: ``(user_id, titles) ->
    rating, user_known, title_known`` or ``(user_state, titles) -> rating,
    title_known``; a history model also has ``personalize`` and ``recommend``
    (inputs and outputs in ``edge_runtime.contract``'s order).

    The CPU delegate is the one the manifest names (the converter found
    which one runs the model). Without a manifest, XNNPACK is tried first and
    dropped if it refuses the model: it cannot prepare some quantized models,
    and says so only when a request is run, so loading runs one.
    """

    def __init__(self, backend: Backend, model: VerifiedModel, num_threads: int) -> None:
        wanted = (model.manifest or {}).get("runtime", {}).get("cpu_delegate")
        for self.cpu_delegate in [wanted] if wanted else ["xnnpack", "none"]:
            try:
                self.interpreter = backend.interpreter(model.content, num_threads,
                                                       default_delegates=self.cpu_delegate == "xnnpack")
                self._bind(model)
            except (ValueError, RuntimeError) as error:  # UnicodeDecodeError too: damaged names
                raise ModelError(f"the interpreter cannot load {model.path}: {error}") from error
            if wanted:
                return  # tensors are allocated on the first request
            try:
                self.try_request()
                return
            except (ValueError, RuntimeError) as error:
                failure = error
        raise ModelError(f"the interpreter cannot run {model.path} (CPU delegate: {self.cpu_delegate}): {failure}") \
            from failure

    def try_request(self) -> None:
        """Runs one request through every signature (what loading an unverified model checks)."""
        empty, two = np.array([b""], dtype=np.object_), np.array([b"", b""], dtype=np.object_)
        if self.kind == HISTORY_KIND:
            state = self.personalize(empty, np.array([3.0], np.float32))[0]
            self.score(state, two)
            self.recommend(state, empty)
        else:
            self.score(empty, two)

    def _bind(self, model: VerifiedModel) -> None:
        """Checks the signatures (a history model's three, or ``score`` with a user id) and binds them."""
        signatures = self.interpreter.get_signature_list()
        self.kind = HISTORY_KIND if PERSONALIZE_SIGNATURE in signatures else USER_ID_KIND
        expected = HISTORY_SIGNATURES if self.kind == HISTORY_KIND else {SIGNATURE: (INPUTS, OUTPUTS)}
        calls = {}
        for name, (inputs, outputs) in expected.items():
            found = signatures.get(name, {})
            if sorted(found.get("inputs", [])) != sorted(inputs) or sorted(found.get("outputs", [])) != sorted(outputs):
                raise ModelError(f"{model.path} has no {name!r} signature with inputs {list(inputs)} and outputs "
                                 f"{list(outputs)}; it has {signatures}")
            calls[name] = _Signature(self.interpreter, name, inputs, outputs)
        self.signatures = {name: call.description for name, call in calls.items()}
        self.score = calls[SIGNATURE]
        self.personalize, self.recommend = calls.get(PERSONALIZE_SIGNATURE), calls.get(RECOMMEND_SIGNATURE)


# Loads and runs a model the way _Session does (an interpreter, its signature, one request), in a
# child process that may crash safely.
_PROBE = """
import sys
from edge_runtime.backend import load_backend
from edge_runtime.manifest import load_model
from edge_runtime.ranker import _Session
_Session(load_backend(sys.argv[2]), load_model(sys.argv[1], verify=False), 1)
"""


def run_in_child(code: str, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    """Runs ``python -c code args…`` in a child that may crash: its output captured, no core file left behind.

    Raises:
        subprocess.TimeoutExpired: The child ran past ``timeout`` seconds (it is killed).
    """
    if os.name == "posix":  # a crash must not drop a core file in the user's folder
        code = "import resource; resource.setrlimit(resource.RLIMIT_CORE, (0, 0))\n" + code
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout)


def probe_in_child(path: os.PathLike[str], backend: Backend, timeout: float = 60.0) -> None:
    """Loads an unverified model, and scores one request with it, in a child process first.

    Without a checksum, damage inside the file's bounds (a truncated file is
    refused before, by ``edge_runtime.flatbuffer``) can only be told apart by
    running it, and both runtimes crash on some flipped bytes instead of
    raising, when loading or only at the first invoke. The child takes that risk, exactly as
    this process would (``_Session``), so the caller does not.

    Raises:
        ModelError: The child crashed, failed or hung while loading or running the file.
    """
    try:
        result = run_in_child(_PROBE, os.fspath(path), backend.name, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ModelError(f"loading {path} did not finish within {timeout:.0f} s: the file is damaged") from None
    if result.returncode < 0:
        raise ModelError(f"{path} crashed the {backend.name} interpreter (signal {-result.returncode}) "
                         "when loaded in a child process: the file is damaged")
    if result.returncode > 0:
        reason = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise ModelError(f"the interpreter cannot load {path}: {reason}")


class EdgeRanker:
    """A converted ranker, ready to score on the device.

    Thread-safe: each thread that scores gets its own interpreter (TFLite
    interpreters are not thread-safe), created on its first call from the
    verified model bytes.

    Args:
        path: A bundle folder (``manifest.json`` and the model) or a ``.tflite``
            file with ``manifest.json`` beside it.
        num_threads: Interpreter threads per call.
        backend: ``"ai_edge_litert"``, ``"tflite_runtime"``, ``"tensorflow"``, a
            loaded ``Backend``, or ``None`` for the first one installed.
        verify: Check the model against its manifest's SHA-256 before loading
            (see ``edge_runtime.manifest``). ``False`` accepts a bare file, which
            is then first loaded in a child process (``probe_in_child``), so a
            damaged file raises here instead of crashing this process.
        chunk_size: Most candidates per interpreter call.

    Raises:
        ModelError: Missing, damaged or unverifiable model, or not a ranker.
        BackendUnavailableError: No interpreter is installed.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        num_threads: int = 1,
        backend: str | Backend | None = None,
        verify: bool = True,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> None:
        for name, value in (("num_threads", num_threads), ("chunk_size", chunk_size)):
            if value < 1:
                raise InputError(f"{name} must be >= 1, got {value}")
        self.model = load_model(path, verify=verify)
        self.backend = backend if isinstance(backend, Backend) else load_backend(backend)
        if self.model.manifest is None:
            probe_in_child(self.model.path, self.backend)
        self.num_threads = num_threads
        self.chunk_size = chunk_size
        self._local = threading.local()
        self._session()  # load now, so a bad model fails here and not on first use

    @property
    def manifest(self) -> dict[str, Any] | None:
        """The model's manifest (``None`` if loaded unverified)."""
        return self.model.manifest

    def titles(self) -> list[str]:
        """The bundle's catalogue (``titles.txt``): every title the model knows, in vocabulary order.

        Raises:
            ModelError: The model was loaded without a bundle, or its titles file is damaged.
        """
        return read_titles(self.model)

    @property
    def cpu_delegate(self) -> str:
        """``"xnnpack"`` if the default CPU delegate runs the model, ``"none"`` if the built-in kernels do."""
        return self._session().cpu_delegate

    @property
    def kind(self) -> str:
        """``"history"``: the model takes the user's own ratings; ``"user_id"``: it looks users up by id."""
        return self._session().kind

    @property
    def rating_range(self) -> tuple[float, float] | None:
        """The values a history may hold (from the manifest; ``None`` without one): the rating scale the model
        was trained on, or 0 and up for the weights of an implicit-feedback model."""
        architecture = (self.manifest or {}).get("architecture") or {}
        if self.implicit:
            return (0.0, math.inf)
        bounds = architecture.get("rating_range")
        return (float(bounds[0]), float(bounds[1])) if bounds else None

    @property
    def implicit(self) -> bool:
        """Whether the model learned from implicit feedback: histories hold weights (plays, clicks), not
        ratings, and ``score`` gives preferences (higher: more likely chosen), not ratings."""
        return ((self.manifest or {}).get("architecture") or {}).get("feedback") == "implicit"

    def names(self) -> list[str] | None:
        """The display name of each title of ``titles()`` (same order; empty: none), or ``None`` when the
        bundle has no names (MovieLens: the titles are the names).

        Raises:
            ModelError: The bundle's names file is damaged.
        """
        return read_names(self.model)

    @property
    def recommend_k(self) -> int | None:
        """How many titles a history model's ``recommend`` signature returns at most (fixed in the model:
        the manifest's ``architecture.recommend_k``); ``None`` for an id model."""
        recommend = self._session().signatures.get(RECOMMEND_SIGNATURE)
        return None if recommend is None else recommend["outputs"][RETRIEVED_TITLES_OUTPUT]["shape"][0]

    def signature(self) -> dict[str, Any]:
        """The ``score`` signature as the interpreter sees it.

        Returns:
            ``{"name": "score", "inputs": {name: {"dtype", "shape"}}, "outputs": {…}}``,
            with -1 for a dimension of any size.
        """
        return self._session().signatures[SIGNATURE]

    def signatures(self) -> dict[str, dict[str, Any]]:
        """Every signature the client uses, by name, as ``signature`` describes ``score``."""
        return dict(self._session().signatures)

    def _session(self) -> _Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = _Session(self.backend, self.model, self.num_threads)
        return session

    def _require_history(self, method: str) -> _Session:
        session = self._session()
        if session.kind != HISTORY_KIND:
            raise InputError(f"{method} needs a history model; {self.model.path} looks users up by id "
                             "(convert the history SavedModel: edgerank convert --saved-model artifacts/history)")
        return session

    def catalogue(self) -> Catalogue:
        """The bundle's titles, indexed to match the titles a person types (``edge_runtime.titles``).

        Raises:
            ModelError: As ``titles``.
        """
        catalogue = getattr(self, "_catalogue", None)
        if catalogue is None:
            catalogue = self._catalogue = Catalogue(self.titles(), self.names())
        return catalogue

    def _known_titles(self) -> Catalogue | None:
        """``catalogue()``, or ``None`` for a bare model (the model itself then flags unknown titles)."""
        try:
            return self.catalogue()
        except ModelError:
            return None

    def personalize(self, history: Any) -> UserState:
        """The user's state from their own ratings; keep it and pass it to ``score``, ``rank`` and ``recommend``.

        Args:
            history: ``(title, rating)`` pairs or a ``{title: rating}`` mapping, any length, empty too
                (the average user). A title rated twice counts once, with its last rating; unknown
                titles are ignored and listed in ``UserState.unknown_titles``. A ``UserState`` is returned as is.

        Returns:
            The state (``UserState``).

        Raises:
            HistoryError: A rating that is not a finite number within the model's scale, or a title that is not text.
            InputError: The model looks users up by id.
        """
        if isinstance(history, UserState):
            return history
        session = self._require_history("personalize")
        titles, ratings = clean_history(history, self.rating_range)
        catalogue = self._known_titles()
        unknown = [] if catalogue is None else [title for title in titles if title not in catalogue]
        if unknown:
            kept = [i for i, title in enumerate(titles) if title in catalogue]
            titles, ratings = [titles[i] for i in kept], ratings[kept]
        texts, encoded = _titles(titles)
        state, known = session.personalize(np.array(encoded, dtype=np.object_), ratings)
        unknown += [title for title, flag in zip(texts, known.tolist()) if not flag]
        return UserState(np.array(state, np.float32), tuple(t for t, flag in zip(texts, known.tolist()) if flag),
                         tuple(unknown))

    def _predict(
        self, user: Any, candidates: Sequence[Any], flags: bool = True
    ) -> tuple[str | None, bool | None, list[str], np.ndarray, np.ndarray | None, tuple[str, ...]]:
        """``(user_text, user_known, texts, scores, title_known, unknown_history)``; ``flags=False`` (what
        ``score`` returns) reads only the scores: ``user_known`` is then ``None``, and so is ``title_known``
        unless there were no candidates (an empty array)."""
        texts, titles = _titles(candidates)
        session = self._session()
        if session.kind == HISTORY_KIND:
            state = self.personalize(user)
            first, user_text, unknown_history = state.vector, None, state.unknown_titles
        else:
            user_text, user_bytes = _text(user, "user_id")
            first, unknown_history = np.array([user_bytes], dtype=np.object_), ()
        if not titles:
            return user_text, None, texts, np.empty(0, np.float32), np.empty(0, bool), unknown_history
        size, call = self.chunk_size, session.score if flags else session.score.first
        if len(titles) <= size:  # the usual request: one call, whose outputs are copies already
            outputs = call(first, np.array(titles, dtype=np.object_))
        else:  # chunk by chunk; the pieces joined output by output
            chunks = [call(first, np.array(titles[start : start + size], dtype=np.object_))
                      for start in range(0, len(titles), size)]
            outputs = [np.concatenate(parts) for parts in zip(*chunks)] if flags else np.concatenate(chunks)
        if not flags:
            return user_text, None, texts, outputs, None, unknown_history
        # (rating, title_known), or (rating, user_known, title_known) from an id model
        user_known = bool(outputs[1][0]) if session.kind == USER_ID_KIND else None
        return user_text, user_known, texts, outputs[0], outputs[-1], unknown_history

    def score(self, user: Any, candidates: Sequence[str]) -> np.ndarray:
        """Predicts every candidate's rating for one user.

        Args:
            user: A history model: the ``UserState`` from ``personalize``, or the history itself.
                An id model: the user's id (``"42"``; an int is taken as its decimal id).
            candidates: Titles as ``str`` (or UTF-8 ``bytes``); duplicates are
                scored each time; any length (chunked internally).

        Returns:
            float32 array, one score per candidate, in input order.

        Raises:
            InputError: An id or title that is not text, or not UTF-8.
            HistoryError: A history with a rating outside the model's scale (see ``personalize``).
        """
        return self._predict(user, candidates, flags=False)[3]

    def rank(self, user: Any, candidates: Sequence[str], k: int | None = None) -> Ranking:
        """Scores the candidates and returns the best ``k`` distinct titles.

        Args:
            user: As for ``score``.
            candidates: As for ``score``; a title listed twice appears once.
            k: How many to return (>= 0); ``None`` returns all.

        Returns:
            The ranking, best first, with out-of-vocabulary flags.
        """
        if k is not None and k < 0:
            raise InputError(f"k must be >= 0, got {k}")
        user_text, user_known, texts, scores, known, unknown_history = self._predict(user, candidates)
        ranked, seen = [], set()
        for i in np.argsort(-scores, kind="stable").tolist():
            if k is not None and len(ranked) >= k:
                break
            if texts[i] not in seen:
                seen.add(texts[i])
                ranked.append(ScoredCandidate(texts[i], float(scores[i]), bool(known[i])))
        return Ranking(user_text, user_known, ranked, unknown_history)

    def rank_many(self, requests: Iterable[tuple[Any, Sequence[str]]], k: int | None = None) -> list[Ranking]:
        """``rank`` for several users: ``[(user, candidates), …]`` in, rankings in the same order out."""
        return [self.rank(user, candidates, k) for user, candidates in requests]

    def retrieve(self, history: Any, k: int = RETRIEVED_CANDIDATES, exclude_rated: bool = True) -> list[str]:
        """The catalogue's best ``k`` titles for a history by the retrieval score, its rated titles left out.

        Args:
            history: A ``UserState`` or a history (see ``personalize``).
            k: How many (>= 0). Fewer come back when the catalogue has fewer unrated titles, and
                never more than the model's ``recommend`` returns (the manifest's
                ``architecture.recommend_k``, 300 by default).
            exclude_rated: Leave the history's titles out (``False``: every title competes, as in
                the tutorials' evaluation).

        Raises:
            InputError: ``k`` < 0, or the model looks users up by id.
        """
        if k < 0:
            raise InputError(f"k must be >= 0, got {k}")
        session = self._require_history("retrieve")
        state = self.personalize(history)
        excluded = state.rated_titles if exclude_rated else ()
        # str, as score passes its titles: the interpreter encodes them (personalize has checked they can be).
        titles, scores = session.recommend(state.vector, np.array(excluded, dtype=np.object_))
        return [title.decode("utf-8") for title, score in zip(titles[:k].tolist(), scores[:k].tolist())
                if score > EXCLUDED_SCORE]

    def recommend(self, history: Any, k: int = 10, candidates: int = RETRIEVED_CANDIDATES) -> Ranking:
        """Recommends on the device, no server call: retrieve ``candidates`` titles, rank them, keep the best ``k``.

        Args:
            history: A ``UserState`` or a history (see ``personalize``).
            k: How many to return (>= 0).
            candidates: Titles retrieved (by the retrieval score, rated titles left out) before ranking.

        Returns:
            The best ``k`` unrated titles by predicted rating, best first.
        """
        if k < 0:
            raise InputError(f"k must be >= 0, got {k}")
        state = self.personalize(history)
        return self.rank(state, self.retrieve(state, max(candidates, k)), k)
