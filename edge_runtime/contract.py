"""The device contract: the names every stage agrees on, defined once.

The trainer exports a ranker whose ``score`` signature has these inputs and
outputs; the converter keeps them in the ``.tflite`` file and writes the bundle
files named here; the edge client feeds and reads them by name. A TFLite model
honours the contract when it has a signature named ``SIGNATURE``::

    inputs:  user_id      string  [1]   the user, as a raw id
             movie_title  string  [N]   candidate titles, raw
    outputs: rating       float32 [N]   predicted rating per candidate
             user_known   bool    [1]   False: the user is out of vocabulary
             title_known  bool    [N]   False: that title is out of vocabulary

A history model (``trainer.history``) takes the user's own ratings instead of
an id, and has three signatures; the device keeps the state between them::

    personalize  in:  history_titles  string  [H]   titles the user rated, raw (any H, 0 too)
                      history_ratings float32 [H]   their ratings
                 out: user_state      float32 [S]   what score and recommend need
                      history_known   bool    [H]   False: that title is unknown and was ignored
    score        in:  user_state, movie_title [N];  out: rating [N], title_known [N]
    recommend    in:  user_state, exclude_titles string [E]
                 out: titles string [K], scores float32 [K]  (the catalogue's best K, excluded left out;
                      K is the manifest's architecture.recommend_k, fixed in the model: a k input
                      makes LiteRT 2.3's TOPK_V2 crash on aarch64)

A bundle is a folder with ``MODEL_FILE``, ``MANIFEST_FILE`` (its schema is in
``edge_runtime.manifest``) and ``TITLES_FILE`` (the catalogue, one title a
line, in vocabulary order: an item id for logs other than MovieLens), and
``NAMES_FILE`` where the log came with an items file (the display name of the
item on the same line of ``TITLES_FILE``; an empty line: none). Every file the
project writes stamps its creation time with ``utc_timestamp``. Standard library only: the trainer imports this
module to name its signature, and a device imports it to read one.
"""

from __future__ import annotations

import datetime

#: The signature the trainer exports and the device runs.
SIGNATURE = "score"
USER_INPUT = "user_id"
TITLE_INPUT = "movie_title"
RATING_OUTPUT = "rating"
USER_KNOWN_OUTPUT = "user_known"
TITLE_KNOWN_OUTPUT = "title_known"
INPUTS = (USER_INPUT, TITLE_INPUT)
OUTPUTS = (RATING_OUTPUT, USER_KNOWN_OUTPUT, TITLE_KNOWN_OUTPUT)

#: The history model's signatures and names (its ``score`` is ``SIGNATURE``, ``movie_title`` and ``rating``).
PERSONALIZE_SIGNATURE = "personalize"
RECOMMEND_SIGNATURE = "recommend"
HISTORY_TITLES_INPUT = "history_titles"
HISTORY_RATINGS_INPUT = "history_ratings"
STATE_OUTPUT = STATE_INPUT = "user_state"
HISTORY_KNOWN_OUTPUT = "history_known"
EXCLUDE_INPUT = "exclude_titles"
RETRIEVED_TITLES_OUTPUT = "titles"
RETRIEVAL_SCORES_OUTPUT = "scores"
#: The score ``recommend`` gives excluded titles, below any real one (they come back only when K
#: exceeds the titles left).
EXCLUDED_SCORE = -1e30
HISTORY_SIGNATURES = {
    PERSONALIZE_SIGNATURE: ((HISTORY_TITLES_INPUT, HISTORY_RATINGS_INPUT), (STATE_OUTPUT, HISTORY_KNOWN_OUTPUT)),
    SIGNATURE: ((STATE_INPUT, TITLE_INPUT), (RATING_OUTPUT, TITLE_KNOWN_OUTPUT)),
    RECOMMEND_SIGNATURE: ((STATE_INPUT, EXCLUDE_INPUT), (RETRIEVED_TITLES_OUTPUT, RETRIEVAL_SCORES_OUTPUT)),
}

#: Outputs with one value per entry of an input: their shape is that input's. TFLite reports no
#: shape ([]) for the history model's lookups, so the client and the manifest take it from here.
SHAPED_LIKE = {RATING_OUTPUT: TITLE_INPUT, TITLE_KNOWN_OUTPUT: TITLE_INPUT, USER_KNOWN_OUTPUT: USER_INPUT,
               HISTORY_KNOWN_OUTPUT: HISTORY_TITLES_INPUT}

#: The files of a model bundle.
MODEL_FILE = "ranker.tflite"
MANIFEST_FILE = "manifest.json"
TITLES_FILE = "titles.txt"
NAMES_FILE = "names.txt"


def utc_timestamp() -> str:
    """Now, as the ``created`` fields record it: ISO 8601 in UTC, to the second (``2026-11-23T10:00:00+00:00``)."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
