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

A bundle is a folder with ``MODEL_FILE``, ``MANIFEST_FILE`` (its schema is in
``edge_runtime.manifest``) and ``TITLES_FILE`` (the catalogue, one title a
line, in vocabulary order). Every file the project writes stamps its creation
time with ``utc_timestamp``. Standard library only: the trainer imports this
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

#: The files of a model bundle.
MODEL_FILE = "ranker.tflite"
MANIFEST_FILE = "manifest.json"
TITLES_FILE = "titles.txt"


def utc_timestamp() -> str:
    """Now, as the ``created`` fields record it: ISO 8601 in UTC, to the second (``2026-11-23T10:00:00+00:00``)."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
