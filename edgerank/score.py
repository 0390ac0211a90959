"""``edgerank score``: rank candidate titles for one user on the device.

A history bundle ranks for the user's own ratings (``--history``, read and
matched by ``edgerank.history_file``), an id bundle for ``--user``.
Candidates are matched to the catalogue as history titles are
(``edge_runtime.titles``): one that resolves to exactly one catalogue title
is scored as that title, and any other is unknown to the model. Unknown
candidates are named on standard error with suggestions, and by default
ranked after every known title (``--unknown``), so a typo never takes a
known title's place.

An unverified model (``--no-verify``) is scored in a child process
(``score_in_child``): damage its probe missed cannot kill this one.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_runtime.backend import BACKEND_NAMES
from edge_runtime.manifest import ModelError
from edge_runtime.ranker import HISTORY_KIND, EdgeRanker, InputError, run_in_child
from edge_runtime.titles import EXACT
from edge_runtime.recommend import named
from edgerank.default_model import resolve_model
from edgerank.history_file import personalize_file

#: What ``--unknown`` does with candidates the model does not know.
UNKNOWN_CHOICES = ("last", "drop", "score")


@dataclass
class ScoreConfig:
    """``edgerank score``.

    Attributes:
        candidates: Titles to rank (none: every title in the bundle's catalogue).
        history: The user's own ratings, for a history bundle: title,rating lines (comma- or
            tab-separated), JSON lines or a JSON array of {"title": …, "rating": …}; - reads standard input.
        user: The user id (e.g. 42), for an id bundle (the tutorials').
        k: Return only the best K, at least 1 (unset: every candidate).
        candidates_file: More candidates, one title a line; - reads standard input.
        unknown: Candidates the model does not know: last (ranked after every known title), drop (left
            out) or score (ranked by the score of an unrated title); each is named on standard error.
        strict: Refuse a history in which any title is unknown or matches several catalogue titles.
        allow_empty_history: Rank for the average user when the history holds no title the model knows
            (without it that is an error).
        model: The bundle folder, or a .tflite file with manifest.json beside it (none: $EDGERANK_MODEL,
            else the bundle the last edgerank convert wrote, else artifacts/edge/history-int8).
        threads: Interpreter threads.
        backend: Interpreter backend (none: the first installed).
        verify: Check the model against its manifest's SHA-256 (--no-verify loads a bare .tflite file,
            first in a child process).
    """

    candidates: tuple[str, ...] = field(default=(), metadata={"positional": True, "metavar": "CANDIDATE"})
    history: str = ""
    user: str | None = None
    k: int | None = None
    candidates_file: str = ""
    unknown: str = field(default="last", metadata={"choices": UNKNOWN_CHOICES})
    strict: bool = False
    allow_empty_history: bool = False
    model: str = ""
    threads: int = 1
    backend: str = field(default="", metadata={"choices": BACKEND_NAMES})
    verify: bool = True


def read_candidates(path: str) -> list[str]:
    """One title a line from ``path`` (``-`` is standard input); blank lines are skipped.

    Raises:
        InputError: The file is missing or a line is not UTF-8.
    """
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as error:
        raise InputError(f"cannot read candidates file {path}: {error.strerror}") from None
    titles = []
    for number, line in enumerate(data.splitlines(), 1):
        try:
            title = line.decode("utf-8")
        except UnicodeDecodeError as error:
            raise InputError(f"{path} line {number} is not UTF-8 ({error.reason} at byte {error.start})") from None
        if title.strip():
            titles.append(title)
    return titles


def score_request(config: ScoreConfig) -> dict[str, Any]:
    """What ``edgerank score`` prints for ``config``.

    Returns:
        ``{"backend", "user_id", "user_known", "scores" (ratings, or an implicit-feedback bundle's
        preferences), "candidates": [{"movie_title", "score", "known", and "name" where the bundle has names}, …]
        (best first, at most k), "matched_candidates": [{"given", "title"}], "unknown_candidates":
        [{"movie_title", "did_you_mean"}]}``, and a history bundle's ``"history"`` report
        (``edgerank.history_file.personalize_file``).

    Raises:
        InputError: A bad k, a missing history or user, or the model takes the other of the two.
        HistoryError: As ``personalize_file``.
    """
    if config.k is not None and config.k < 1:
        raise InputError(f"--k must be >= 1, got {config.k} (leave it out for every candidate)")
    if config.threads < 1:
        raise InputError(f"--threads must be >= 1, got {config.threads}")
    if config.history == "-" and config.candidates_file == "-":
        raise InputError("--history and --candidates-file cannot both read standard input (-)")
    model = resolve_model(config.model)
    ranker = EdgeRanker(model, num_threads=config.threads, backend=config.backend or None, verify=config.verify)
    report = None
    if ranker.kind == HISTORY_KIND:
        if not config.history:
            raise InputError(f"{model} takes the user's own ratings, not an id: pass --history FILE "
                             "(title,rating lines; - reads standard input)")
        who, report = personalize_file(ranker, config.history, config.strict, config.allow_empty_history)
    else:
        if config.history:
            raise InputError(f"{model} looks users up by id and cannot take --history: use --user, or a history "
                             "bundle (edgerank convert --saved-model artifacts/history)")
        if config.user is None:
            raise InputError(f"{model} looks users up by id: pass --user ID")
        who = config.user
    candidates = list(config.candidates)
    if config.candidates_file:
        candidates += read_candidates(config.candidates_file)
    if not candidates and not config.candidates_file:
        candidates = ranker.titles()
    candidates, matched, suggestions = _match_candidates(ranker, candidates)
    ranking = ranker.rank(who, candidates)
    known = [candidate for candidate in ranking.candidates if candidate.known]
    unknown = [candidate for candidate in ranking.candidates if not candidate.known]
    ordered = {"last": known + unknown, "drop": known, "score": ranking.candidates}[config.unknown]
    result = {"backend": f"{ranker.backend.name} {ranker.backend.version}", "user_id": ranking.user_id,
              "scores": "preferences" if ranker.implicit else "ratings",
              "user_known": ranking.user_known,
              "candidates": named(ranker, [dataclasses.asdict(candidate) for candidate in ordered[:config.k]]),
              "matched_candidates": matched,
              "unknown_candidates": [{"movie_title": candidate.movie_title,
                                      "did_you_mean": suggestions.get(candidate.movie_title, [])}
                                     for candidate in unknown]}
    if report is not None:
        result["history"] = report
    return result


def _match_candidates(ranker: EdgeRanker, candidates: list[str]) -> tuple[list[str], list[dict], dict[str, list]]:
    """Candidates with each one that matches a single catalogue title replaced by it; the replacements
    (``[{"given", "title"}]``); and the suggestions for the others (``{title: [suggestion, …]}``)."""
    try:
        catalogue = ranker.catalogue()
    except ModelError:  # a bare model: it flags unknown titles itself, and there is nothing to suggest
        return candidates, [], {}
    if all(isinstance(title, str) and title in catalogue for title in candidates):
        return candidates, [], {}  # the usual request, the whole catalogue included
    resolved, matched, suggestions = [], [], {}
    for given in candidates:
        match = catalogue.match(given) if isinstance(given, str) else None
        if match is None or match.title is None:
            resolved.append(given)
            if match is not None:
                suggestions[given] = list(dict.fromkeys(map(catalogue.display, match.suggestions)))
            continue
        resolved.append(match.title)
        if match.how != EXACT:  # an id given, or a display name as the bundle spells it, needs no note
            matched.append({"given": given, "title": match.title,
                            **({"name": catalogue.display(match.title)} if catalogue.names else {})})
    return resolved, matched, suggestions


# Scores one request in a child process: an unverified model may crash the interpreter.
_SCORE_IN_CHILD = """
import json, sys
from edge_runtime.errors import EdgeRankError
from edgerank.score import ScoreConfig, score_request
try:
    print(json.dumps(score_request(ScoreConfig(**json.loads(sys.argv[1])))))
except EdgeRankError as error:
    print(error, file=sys.stderr)
    sys.exit(2)
"""


def score_in_child(config: ScoreConfig) -> dict[str, Any]:
    """``score_request(config)`` in a child process, so damage the probe missed cannot kill this one.

    Without a manifest nothing guards the file, and both runtimes crash on
    some damage that only a real request reaches (a damaged lookup index, say).
    The child reads this process's standard input (``-``).

    Raises:
        ModelError: The child was killed by a signal.
        InputError: The child refused the request or the model; its message.
    """
    child = run_in_child(_SCORE_IN_CHILD, json.dumps(dataclasses.asdict(config)))
    if child.returncode < 0:
        raise ModelError(f"{config.model} crashed the interpreter (signal {-child.returncode}) while scoring in "
                         "a child process: the file is damaged")
    if child.returncode != 0:
        raise InputError((child.stderr.strip().splitlines() or [f"status {child.returncode}"])[-1])
    return json.loads(child.stdout)
