"""The MovieLens family's GroupLens file layouts, detected from the files.

A path is a GroupLens zip archive or its extracted folder, with the files at
its root or one folder down (``ml-1m/ratings.dat``). Three layouts:

* ``100k`` (MovieLens 100K): ``u.data`` (tab-separated ``user movie rating
  timestamp``), ``u.item`` and ``u.user`` (``|``-separated), ISO-8859-1.
* ``1m`` (MovieLens 1M): ``ratings.dat``, ``movies.dat`` and ``users.dat``,
  ``::``-separated, ISO-8859-1. Ages are the file's age-group codes, and
  occupations are codes, named here as the dataset's README names them.
* ``csv`` (MovieLens 20M, 25M and latest-small): ``ratings.csv`` and
  ``movies.csv`` with a header row, UTF-8, ratings in half stars. There are no
  user files: age is 0, gender, occupation and zip code are empty.

MovieLens 100K also ships five canonical train/test splits, ``u1`` to ``u5``
(``read_canonical_folds``).

Each reader returns the columns of ``trainer.data.RATING_COLUMNS`` (the
tensorflow-datasets ``movielens/*-ratings`` feature names), one row per
rating in file order, and every catalogue title.

Real copies are dirty. A malformed line is always an error naming the file
and line. A well-formed rating that names a user or movie missing from the
users or movies file is an error too, unless ``skip_bad_rows``: then such
rows are dropped, counted, and the first few are named in a warning.
"""

from __future__ import annotations

import csv
import io
import logging
import zipfile
from pathlib import Path

import numpy as np

from interactions.schema import Columns, DataError

log = logging.getLogger(__name__)

#: Ratings rows with unknown ids that a ``skip_bad_rows`` warning names.
NAMED_BAD_ROWS = 5

#: Layout name -> the files that identify it (all in one folder).
LAYOUTS = {
    "100k": ("u.data", "u.item", "u.user"),
    "1m": ("ratings.dat", "movies.dat", "users.dat"),
    "csv": ("ratings.csv", "movies.csv"),
}

#: MovieLens 1M's occupation codes (its README), as tensorflow-datasets names them.
OCCUPATIONS_1M = (
    "other/not specified", "academic/educator", "artist", "clerical/admin", "college/grad student",
    "customer service", "doctor/health care", "executive/managerial", "farmer", "homemaker", "K-12 student",
    "lawyer", "programmer", "retired", "sales/marketing", "scientist", "self-employed", "technician/engineer",
    "tradesman/craftsman", "unemployed", "writer",
)


def is_movielens(path: Path) -> bool:
    """Whether ``path`` is a zip archive, or a folder holding one of the ``LAYOUTS`` (at its root or one down)."""
    if path.is_file():
        return zipfile.is_zipfile(path)
    if not path.is_dir():
        return False
    folders = (path, *(child for child in path.iterdir() if child.is_dir()))
    return any(all((folder / name).is_file() for name in names) for folder in folders for names in LAYOUTS.values())


def read(path: Path, skip_bad_rows: bool = False) -> tuple[str, Columns, np.ndarray]:
    """Detects the layout at ``path`` and reads it.

    Args:
        path: The archive or folder.
        skip_bad_rows: Drop (and count) ratings that name unknown users or movies instead of failing.

    Returns:
        ``(layout, ratings, catalogue titles)``: the layout's name in
        ``LAYOUTS``, the rating columns in file order, every movie's title.

    Raises:
        DataError: No layout's files are there, a file is malformed, or (without ``skip_bad_rows``)
            a rating names an unknown user or movie.
    """
    layout, files = _find_layout(path)
    reader = {"100k": _read_100k, "1m": _read_1m, "csv": _read_csv}[layout]
    ratings, titles = reader(files, skip_bad_rows)
    return layout, ratings, titles


def find_members(path: Path, names: tuple[str, ...]) -> dict[str, bytes] | None:
    """Reads ``names`` from one folder of a zip archive or directory (its root or one level down).

    Returns:
        The files' bytes by name, or ``None`` when no folder holds every name.

    Raises:
        DataError: The path is missing, or is neither a zip archive nor a folder.
    """
    if not path.exists():
        raise DataError(f"MovieLens data not found at {path}")
    if path.is_dir():
        for folder in (path, *sorted(p for p in path.iterdir() if p.is_dir())):
            if all((folder / name).is_file() for name in names):
                return {name: (folder / name).read_bytes() for name in names}
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            folders: dict[str, dict[str, str]] = {}
            for member in archive.namelist():
                parent = Path(member).parent
                if len(parent.parts) <= 1:
                    folders.setdefault(str(parent), {})[Path(member).name] = member
            for members in folders.values():
                if all(name in members for name in names):
                    return {name: archive.read(members[name]) for name in names}
            return None
    except zipfile.BadZipFile as error:
        raise DataError(f"{path} is neither a folder nor a zip archive: {error}") from error


#: The five train/test splits GroupLens ships with MovieLens 100K (80,000 / 20,000 ratings each).
CANONICAL_FOLDS = ("u1", "u2", "u3", "u4", "u5")


def read_canonical_folds(path: Path) -> list[tuple[Columns, Columns]]:
    """The archive's ``u1.base``/``u1.test`` … ``u5.base``/``u5.test`` splits.

    Args:
        path: ``ml-100k.zip`` or its extracted folder.

    Returns:
        Five ``(train, test)`` pairs of ``user_id``, ``movie_title`` and
        ``user_rating`` columns, in the files' order.

    Raises:
        DataError: The archive lacks the fold files or a line is malformed.
    """
    names = ("u.item",) + tuple(f"{fold}.{part}" for fold in CANONICAL_FOLDS for part in ("base", "test"))
    files = find_members(Path(path), names)
    if files is None:
        raise DataError(f"{path} lacks {', '.join(names)}; the u1–u5 folds ship with MovieLens 100K only "
                        "(evaluate with --no-folds)")
    title_of = {row[0]: row[1] for row in parse_lines(files["u.item"], "u.item", "|", min_fields=5)}

    def columns(name: str) -> Columns:
        rows = parse_lines(files[name], name, "\t", min_fields=3)
        try:
            return {"user_id": np.array([row[0] for row in rows], dtype=np.str_),
                    "movie_title": np.array([title_of[row[1]] for row in rows], dtype=np.str_),
                    "user_rating": np.array([float(row[2]) for row in rows], dtype=np.float32)}
        except (KeyError, ValueError) as error:
            raise DataError(f"{name}: unknown movie or bad rating ({error})") from error

    return [(columns(f"{fold}.base"), columns(f"{fold}.test")) for fold in CANONICAL_FOLDS]


def _find_layout(path: Path) -> tuple[str, dict[str, bytes]]:
    for layout, names in LAYOUTS.items():
        files = find_members(path, names)
        if files is not None:
            return layout, files
    expected = " or ".join(", ".join(files) for files in LAYOUTS.values())
    raise DataError(f"{path} is not MovieLens: it lacks {expected}")


def parse_lines(data: bytes, name: str, separator: str, min_fields: int, encoding: str = "iso-8859-1",
                ) -> list[list[str]]:
    """Splits ``data`` into lines of at least ``min_fields`` fields; blank lines are skipped."""
    rows = []
    for line_number, line in enumerate(data.decode(encoding).splitlines(), 1):
        if not line.strip():
            continue
        fields = line.strip().split(separator)
        if len(fields) < min_fields:
            raise DataError(f"{name} line {line_number}: expected {min_fields} fields, got {line!r}")
        rows.append(fields)
    return rows


def _number_column(values: np.ndarray, dtype: type, name: str, first_line: int) -> np.ndarray:
    try:
        return values.astype(dtype)
    except ValueError:
        for row, value in enumerate(values.tolist()):
            try:
                dtype(value)
            except ValueError as error:
                raise DataError(f"{name} line {first_line + row}: {error}") from error
        raise


def _table(ratings: np.ndarray, title_of: dict[str, str], user_of: dict[str, tuple], name: str,
           first_line: int = 1, skip_bad_rows: bool = False) -> Columns:
    """Rating columns from ``ratings`` rows ``[user, movie, rating, timestamp]`` (strings) and the lookups.

    ``first_line`` is the file line of the first rating (errors name lines); ``skip_bad_rows`` drops
    rows with unknown ids (see the module docstring).
    """
    if not len(ratings):
        raise DataError(f"{name} holds no ratings")
    # Malformed values are errors first, whatever their ids.
    values = {"user_rating": _number_column(ratings[:, 2], float, name, first_line).astype(np.float32),
              "timestamp": _number_column(ratings[:, 3], int, name, first_line).astype(np.int64)}
    bad = [row for row, (user, movie) in enumerate(zip(ratings[:, 0].tolist(), ratings[:, 1].tolist()))
           if movie not in title_of or (user_of and user not in user_of)]
    if bad and not skip_bad_rows:
        user, movie = str(ratings[bad[0], 0]), str(ratings[bad[0], 1])  # str: numpy's str_ shows as np.str_('1')
        raise DataError(f"{name} line {first_line + bad[0]}: unknown user {user!r} or movie {movie!r} "
                        f"({len(bad)} such rows; --skip-bad-rows drops them)")
    if bad:
        named = ", ".join(f"line {first_line + row} (user {str(ratings[row, 0])!r}, movie {str(ratings[row, 1])!r})"
                          for row in bad[:NAMED_BAD_ROWS])
        log.warning("%s: skipped %d of %d ratings that name an unknown user or movie: %s%s", name, len(bad),
                    len(ratings), named, ", …" if len(bad) > NAMED_BAD_ROWS else "")
        kept = np.setdiff1d(np.arange(len(ratings)), bad)
        if not len(kept):
            raise DataError(f"{name} holds no ratings with known users and movies")
        ratings, values = ratings[kept], {column: value[kept] for column, value in values.items()}
    users, movies = ratings[:, 0], ratings[:, 1]
    if user_of:
        ages, genders, occupations, zips = zip(*[user_of[u] for u in users.tolist()])
    else:  # no user file: no profile
        ages, genders, occupations, zips = np.zeros(len(users)), np.zeros(len(users)), [""] * len(users), [""] * len(users)
    return {
        "user_id": users.astype(np.str_), "movie_id": movies.astype(np.str_),
        "movie_title": np.array([title_of[m] for m in movies.tolist()], dtype=np.str_), **values,
        "raw_user_age": np.array(ages, np.float32), "user_gender": np.array(genders, np.bool_),
        "user_occupation_text": np.array(occupations, np.str_), "user_zip_code": np.array(zips, np.str_),
    }


def _users(rows: list[list[str]], name: str, fields: tuple[int, int, int, int],
           occupations: tuple[str, ...] | None = None) -> dict[str, tuple]:
    age, gender, occupation, zip_code = fields
    users = {}
    for line_number, row in enumerate(rows, 1):
        try:
            job = occupations[int(row[occupation])] if occupations else row[occupation]
            users[row[0]] = (float(row[age]), row[gender] == "M", job, row[zip_code])
        except (ValueError, IndexError) as error:
            raise DataError(f"{name} line {line_number}: {error}") from error
    return users


def _read_separated(files: dict[str, bytes], names: tuple[str, str, str], separators: tuple[str, str],
                    movie_fields: int, user_fields: tuple[int, int, int, int], skip_bad_rows: bool,
                    occupations: tuple[str, ...] | None = None) -> tuple[Columns, np.ndarray]:
    """100K and 1M: ratings, movies and users files of separated fields, ISO-8859-1.

    Args:
        names: The ratings, movies and users files.
        separators: The ratings file's, and the movies and users files'.
        movie_fields: Fields a movies line has at least (id and title first).
        user_fields: Where age, gender, occupation and zip code are on a users line.
        skip_bad_rows: Drop ratings with unknown ids (``read``).
        occupations: Names of occupation codes, if the file has codes.
    """
    ratings_file, movies_file, users_file = names
    movies = parse_lines(files[movies_file], movies_file, separators[1], min_fields=movie_fields)
    users = _users(parse_lines(files[users_file], users_file, separators[1], min_fields=5), users_file,
                   user_fields, occupations)
    ratings = parse_lines(files[ratings_file], ratings_file, separators[0], min_fields=4)
    title_of = {row[0]: row[1] for row in movies}
    table = _table(np.array([row[:4] for row in ratings], dtype=object).reshape(-1, 4), title_of, users,
                   ratings_file, skip_bad_rows=skip_bad_rows)
    return table, np.array([row[1] for row in movies], dtype=np.str_)


def _read_100k(files: dict[str, bytes], skip_bad_rows: bool) -> tuple[Columns, np.ndarray]:
    return _read_separated(files, LAYOUTS["100k"], ("\t", "|"), movie_fields=5, user_fields=(1, 2, 3, 4),
                           skip_bad_rows=skip_bad_rows)


def _read_1m(files: dict[str, bytes], skip_bad_rows: bool) -> tuple[Columns, np.ndarray]:
    return _read_separated(files, LAYOUTS["1m"], ("::", "::"), movie_fields=3, user_fields=(2, 1, 3, 4),
                           skip_bad_rows=skip_bad_rows, occupations=OCCUPATIONS_1M)


def _read_csv(files: dict[str, bytes], skip_bad_rows: bool) -> tuple[Columns, np.ndarray]:
    movies = list(csv.reader(io.StringIO(files["movies.csv"].decode("utf-8"))))[1:]
    if any(len(row) < 2 for row in movies):
        raise DataError("movies.csv: a row has fewer than 2 fields (movieId,title)")
    text = files["ratings.csv"].decode("utf-8")
    try:  # userId,movieId,rating,timestamp: no quoting, so NumPy's C reader takes the millions of rows
        ratings = np.loadtxt(io.StringIO(text), delimiter=",", skiprows=1, dtype=str, usecols=(0, 1, 2, 3), ndmin=2)
    except ValueError as error:
        raise DataError(f"ratings.csv: {error}") from error
    title_of = {row[0]: row[1] for row in movies}
    return (_table(ratings, title_of, {}, "ratings.csv", first_line=2, skip_bad_rows=skip_bad_rows),
            np.array([row[1] for row in movies], dtype=np.str_))
