"""Model bundles: the self-describing folder an app ships.

A bundle holds three files (named in ``edge_runtime.contract``; the manifest's
schema is in ``edge_runtime.manifest``)::

    ranker.tflite    the model: raw strings in, ratings out
    manifest.json    what the model is, what it was checked against, its SHA-256
    titles.txt       the candidate titles it knows, one a line (the catalogue)
    names.txt        each title's display name on the same line (only when the log came with an items file)

``edgerank convert`` writes one bundle per variant; ``edgerank bundle`` verifies
a bundle and copies it elsewhere, optionally as an Android ``assets`` folder.
Bundles are written into a temporary folder beside the target and renamed into
place (``edge_runtime.atomic.directory``), so a killed process leaves the
previous bundle or the new one, never a mix. Standard library only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from edge_runtime import atomic, manifest
from edge_runtime.contract import (EXCLUDE_INPUT, EXCLUDED_SCORE, HISTORY_KNOWN_OUTPUT, HISTORY_RATINGS_INPUT,
                                   HISTORY_TITLES_INPUT, MANIFEST_FILE, MODEL_FILE, PERSONALIZE_SIGNATURE,
                                   RATING_OUTPUT, RECOMMEND_SIGNATURE, RETRIEVAL_SCORES_OUTPUT,
                                   RETRIEVED_TITLES_OUTPUT, SIGNATURE, STATE_INPUT, STATE_OUTPUT, TITLE_INPUT,
                                   TITLE_KNOWN_OUTPUT, TITLES_FILE, USER_INPUT, USER_KNOWN_OUTPUT, NAMES_FILE,
                                   utc_timestamp)
from edge_runtime.manifest import load_model, read_names, read_titles
#: Manifest fields ``write_description`` computes itself (a copy recomputes them).
COMPUTED_FIELDS = ("schema_version", "model", "sha256", "size_bytes", "titles", "names", "created")
#: Subfolder of an Android ``assets`` folder that ``--android`` writes the bundle to.
ANDROID_ASSET_DIR = "edgerank"


def write_model(folder: str | os.PathLike[str], model: bytes) -> Path:
    """Writes the model into a bundle folder being built; returns its path."""
    path = Path(folder) / MODEL_FILE
    path.write_bytes(model)
    return path


def write_description(folder: str | os.PathLike[str], model: bytes, description: dict[str, Any],
                      titles: list[str], names: list[str] | None = None) -> None:
    """Completes a bundle folder being built: ``titles.txt``, ``names.txt`` and ``manifest.json``, all files synced.

    Args:
        folder: The (temporary) bundle folder, already holding the model.
        model: The model's bytes, for the checksum.
        description: Manifest fields other than ``COMPUTED_FIELDS`` (schema
            version, file names, checksum, size, title count, creation time).
        titles: The catalogue, in vocabulary order.
        names: Each title's display name, in the same order; ``None``: no names file.
    """
    folder = Path(folder)
    fields = {
        "schema_version": manifest.SCHEMA_VERSION,
        "model": MODEL_FILE,
        "sha256": manifest.sha256_hex(model),
        "size_bytes": len(model),
        **description,
        "titles": {"file": TITLES_FILE, "count": len(titles)},
        **({"names": {"file": NAMES_FILE, "count": len(names)}} if names is not None else {}),
        "created": utc_timestamp(),
    }
    (folder / TITLES_FILE).write_text("".join(f"{title}\n" for title in titles), encoding="utf-8")
    if names is not None:
        (folder / NAMES_FILE).write_text("".join(f"{name}\n" for name in names), encoding="utf-8")
    (folder / MANIFEST_FILE).write_text(json.dumps(fields, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    for path in folder.iterdir():
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())


def write_bundle(out: str | os.PathLike[str], model: bytes, description: dict[str, Any], titles: list[str],
                 names: list[str] | None = None) -> Path:
    """Writes a whole bundle atomically (see ``write_description`` for the arguments).

    Returns:
        The bundle folder, ``out``; replaced whole if it existed.
    """
    with atomic.directory(out) as folder:
        write_model(folder, model)
        write_description(folder, model, description, titles, names)
    return Path(out)


def copy_bundle(source: str | os.PathLike[str], out: str | os.PathLike[str], android: bool = False) -> Path:
    """Verifies a bundle and writes a copy of it.

    Args:
        source: A bundle folder (or the ``.tflite`` inside one).
        out: The new bundle folder; with ``android``, an Android ``assets``
            folder (other assets in it are kept), and the bundle goes to
            ``out/edgerank/``.
        android: Lay the copy out for an Android app's assets.

    Returns:
        The written bundle folder.

    Raises:
        ModelError: The source is not a complete bundle or fails its checksum.
    """
    verified = load_model(source)
    titles, names = read_titles(verified), read_names(verified)
    fields = {key: value for key, value in verified.manifest.items() if key not in COMPUTED_FIELDS}
    target = Path(out) / ANDROID_ASSET_DIR if android else Path(out)
    return write_bundle(target, verified.content, fields, titles, names)


def android_snippet(asset_dir: str = ANDROID_ASSET_DIR, kind: str = "history") -> str:
    """Kotlin that loads a bundle from an app's assets and runs it with LiteRT's signature runner.

    Args:
        asset_dir: The bundle's folder inside the app's assets.
        kind: The manifest's ``kind``: ``history`` (personalize, score, recommend from the user's
            own ratings) or ``user_id`` (score one user id).
    """
    return _ANDROID_LOAD.format(asset_dir=asset_dir, MODEL_FILE=MODEL_FILE, MANIFEST_FILE=MANIFEST_FILE) + (
        _ANDROID_HISTORY + android_sequence(asset_dir) if kind == "history" else _ANDROID_USER_ID) + f"""
// The catalogue: context.assets.open("{asset_dir}/{TITLES_FILE}").bufferedReader().readLines()
"""


def android_sequence(asset_dir: str = ANDROID_ASSET_DIR) -> str:
    """The Kotlin that strings the history bundle's calls together (the README shows it): verify and
    load, read state_size and recommend_k from the manifest, personalize, retrieve, score the
    retrieved titles and keep the best 10."""
    return _ANDROID_SEQUENCE.format(asset_dir=asset_dir, MANIFEST_FILE=MANIFEST_FILE)


_ANDROID_SEQUENCE = '''
// The whole sequence, on the phone: the user's ratings in, the best 10 unrated titles out.
fun recommendTop10(context: Context, titles: Array<String>, ratings: FloatArray): List<Pair<String, Float>> {{
    check(verifyRanker(context)) {{ "the bundle does not match its manifest: copy it again" }}
    val architecture = org.json.JSONObject(context.assets.open("{asset_dir}/{MANIFEST_FILE}").bufferedReader()
        .readText()).getJSONObject("architecture")
    val ranker = loadRanker(context)  // load once and keep it; personalize again when the ratings change
    val state = personalize(ranker, architecture.getInt("state_size"), titles, ratings)
    val candidates = retrieve(ranker, architecture.getInt("recommend_k"), state, titles).toTypedArray()
    val rating = score(ranker, state, candidates)
    return candidates.indices.sortedByDescending {{ rating[it] }}.take(10).map {{ candidates[it] to rating[it] }}
}}
'''

_ANDROID_LOAD = '''// build.gradle.kts
//   dependencies {{ implementation("com.google.ai.edge.litert:litert:1.4.0") }}
//   android {{ androidResources {{ noCompress += "tflite" }} }}  // keeps the model mappable
import android.content.Context
import org.tensorflow.lite.Interpreter
import java.io.FileInputStream
import java.nio.channels.FileChannel

fun loadRanker(context: Context): Interpreter {{
    val fd = context.assets.openFd("{asset_dir}/{MODEL_FILE}")
    val model = FileInputStream(fd.fileDescriptor).channel
        .map(FileChannel.MapMode.READ_ONLY, fd.startOffset, fd.declaredLength)
    return Interpreter(model, Interpreter.Options().setNumThreads(1))
}}

// The manifest's SHA-256 guards the model: check it after install or update, before loading.
fun verifyRanker(context: Context): Boolean {{
    val manifest = org.json.JSONObject(context.assets.open("{asset_dir}/{MANIFEST_FILE}").bufferedReader().readText())
    val digest = java.security.MessageDigest.getInstance("SHA-256")
        .digest(context.assets.open("{asset_dir}/{MODEL_FILE}").use {{ it.readBytes() }})
    return digest.joinToString("") {{ "%02x".format(it) }} == manifest.getString("sha256")
}}
'''

_ANDROID_USER_ID = f"""
// Scores one user against candidate titles: raw strings in, one rating per title out.
fun score(ranker: Interpreter, userId: String, titles: Array<String>): FloatArray {{
    val rating = FloatArray(titles.size)
    val inputs = mapOf<String, Any>("{USER_INPUT}" to arrayOf(userId), "{TITLE_INPUT}" to titles)
    val outputs = mapOf<String, Any>(
        "{RATING_OUTPUT}" to rating, "{USER_KNOWN_OUTPUT}" to BooleanArray(1), "{TITLE_KNOWN_OUTPUT}" to BooleanArray(titles.size))
    ranker.runSignature(inputs, outputs, "{SIGNATURE}")
    return rating
}}
"""

_ANDROID_HISTORY = f"""
// The user's own ratings never leave the phone. Keep one title per entry (the last rating of a
// title rated twice) and ratings within the manifest's architecture.rating_range.
// personalize runs once per history change: store the state it returns (e.g. in a file).
// stateSize is the manifest's architecture.state_size.
fun personalize(ranker: Interpreter, stateSize: Int, titles: Array<String>, ratings: FloatArray): FloatArray {{
    val state = FloatArray(stateSize)
    val known = BooleanArray(titles.size)  // false: a title the model does not know, ignored
    ranker.runSignature(mapOf("{HISTORY_TITLES_INPUT}" to titles, "{HISTORY_RATINGS_INPUT}" to ratings),
                        mapOf("{STATE_OUTPUT}" to state, "{HISTORY_KNOWN_OUTPUT}" to known), "{PERSONALIZE_SIGNATURE}")
    return state
}}

// Predicted ratings of candidate titles for the kept state.
fun score(ranker: Interpreter, state: FloatArray, titles: Array<String>): FloatArray {{
    val rating = FloatArray(titles.size)
    ranker.runSignature(mapOf("{STATE_INPUT}" to state, "{TITLE_INPUT}" to titles),
                        mapOf("{RATING_OUTPUT}" to rating, "{TITLE_KNOWN_OUTPUT}" to BooleanArray(titles.size)),
                        "{SIGNATURE}")
    return rating
}}

// The catalogue's best recommendK titles by the retrieval score (the manifest's
// architecture.recommend_k), the rated ones left out. Score them and keep the best 10:
// recommendations with no server call.
fun retrieve(ranker: Interpreter, recommendK: Int, state: FloatArray, rated: Array<String>): List<String> {{
    val titles = Array(recommendK) {{ ByteArray(0) }}
    val scores = FloatArray(recommendK)  // {EXCLUDED_SCORE:g} marks a left-out title (a catalogue smaller than K)
    ranker.runSignature(mapOf("{STATE_INPUT}" to state, "{EXCLUDE_INPUT}" to rated),
                        mapOf("{RETRIEVED_TITLES_OUTPUT}" to titles, "{RETRIEVAL_SCORES_OUTPUT}" to scores),
                        "{RECOMMEND_SIGNATURE}")
    return titles.indices.filter {{ scores[it] > {EXCLUDED_SCORE:g}f }}.map {{ String(titles[it], Charsets.UTF_8) }}
}}
"""
