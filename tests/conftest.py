"""Shared fixtures: a small synthetic archive in the MovieLens 100K format.

MovieLens itself may not be redistributed, so unit tests write their own
archive: latent-factor ratings (so models have something to learn), the
GroupLens file layout and encoding (ISO-8859-1, one title with an accent).
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

# `edgerank convert` remembers the bundle it wrote (edgerank.default_model) under $XDG_STATE_HOME: the
# tests' conversions go to a folder of their own, never the user's, and children inherit it.
os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="edgerank-test-state-")

USERS, MOVIES, RATINGS = 30, 40, 1000
#: The published JSON Schemas (docs/schemas/) of the files other apps read.
SCHEMAS = Path(__file__).resolve().parents[1] / "docs" / "schemas"
ACCENTED_TITLE = "Misérables, Les (1995)"


def movie_title(movie: int) -> str:
    return ACCENTED_TITLE if movie == 7 else f"Synthetic Movie {movie} (19{50 + movie})"


def write_synthetic_movielens(folder: Path, seed: int = 0) -> Path:
    """Writes ``folder/ml-100k/{u.data,u.item,u.user,u1.base,…,u5.test}``; returns ``folder/ml-100k``."""
    rng = np.random.default_rng(seed)
    root = folder / "ml-100k"
    root.mkdir(parents=True)
    users, movies = rng.normal(size=(USERS, 3)), rng.normal(size=(MOVIES, 3))
    pairs = rng.choice(USERS * MOVIES, size=RATINGS, replace=False)
    lines = []
    for pair in pairs:
        user, movie = divmod(int(pair), MOVIES)
        rating = int(np.clip(np.rint(3 + users[user] @ movies[movie] + rng.normal(0, 0.3)), 1, 5))
        lines.append(f"{user + 1}\t{movie + 1}\t{rating}\t{880000000 + int(pair)}")
    (root / "u.data").write_text("\n".join(lines) + "\n", encoding="iso-8859-1")
    for fold in range(5):  # the canonical u1–u5 splits: each fifth of the ratings is a test split once
        test = set(range(fold, RATINGS, 5))
        for part, rows in (("base", [n for n in range(RATINGS) if n not in test]), ("test", sorted(test))):
            (root / f"u{fold + 1}.{part}").write_text("".join(lines[n] + "\n" for n in rows), encoding="iso-8859-1")
    genres = "|".join(["0"] * 19)
    (root / "u.item").write_text(
        "".join(f"{m}|{movie_title(m)}|01-Jan-1995||http://example.invalid/{m}|{genres}\n"
                for m in range(1, MOVIES + 1)),
        encoding="iso-8859-1",
    )
    (root / "u.user").write_text(
        "".join(f"{u}|{20 + u}|{'MF'[u % 2]}|student|{10000 + u}\n" for u in range(1, USERS + 1)),
        encoding="iso-8859-1",
    )
    return root


def assert_matches_schema(path: Path, schema: str) -> dict:
    """Validates the JSON file ``path`` against ``docs/schemas/<schema>.schema.json``; returns its content."""
    import jsonschema

    content = json.loads(Path(path).read_text(encoding="utf-8"))
    jsonschema.validate(content, json.loads((SCHEMAS / f"{schema}.schema.json").read_text()),
                        format_checker=jsonschema.FormatChecker())
    return content


def zip_folder(root: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted(root.iterdir()):
            handle.write(path, f"ml-100k/{path.name}")
    return archive


@pytest.fixture(scope="session")
def synthetic_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_movielens(tmp_path_factory.mktemp("movielens"))


@pytest.fixture(scope="session")
def synthetic_archive(synthetic_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return zip_folder(synthetic_folder, tmp_path_factory.mktemp("archive") / "ml-100k.zip")
