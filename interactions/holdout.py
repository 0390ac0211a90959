"""How a log is divided into training and test interactions: three protocols.

* ``random``: a seeded permutation of the interactions, the first
  ``train_fraction`` train (MovieLens keeps the TFRS tutorials' own
  ``tf.data`` shuffle instead: ``trainer.data.split_ratings``).
* ``time``: each user's latest ``1 - train_fraction`` of their interactions
  (by the time column) are test, the rest train: the future is predicted
  from the past. A user with one interaction only trains.
* ``users``: new users. ``new_user_fraction`` of the users (drawn with the
  seed) are held out whole: their earliest ``train_fraction`` of
  interactions (by time, else in log order) are the history the device folds
  in, the rest the test; the model never trains on them. The held-out users'
  histories are ``holdout["history"]``.

Each returns row indices into the log, so any column travels with its rows.
"""

from __future__ import annotations

import numpy as np

from interactions import ids
from interactions.schema import Columns, DataError

#: ``SplitConfig.method`` values.
METHODS = ("random", "time", "users")


def random_split(count: int, train_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(train rows, test rows)``: a seeded permutation, the first ``train_fraction`` train."""
    order = np.random.default_rng(seed).permutation(count)
    train_size = round(count * train_fraction)
    return order[:train_size], order[train_size:]


def time_split(columns: Columns, train_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """``(train rows, test rows)``: each user's latest interactions test (see the module docstring).

    Raises:
        DataError: Every timestamp is the same (no time column was read).
    """
    times = np.asarray(columns["timestamp"])
    if len(times) and times.min() == times.max():
        raise DataError("--split-method time needs a time column (--time-column): every interaction has the "
                        "same time")
    users = np.asarray(columns["user_id"])
    order = np.lexsort((np.arange(len(users)), times, users))    # by user, then time, then log order
    return _split_each_user(users, order, train_fraction)


def user_split(columns: Columns, train_fraction: float, new_user_fraction: float,
               seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(train rows, held-out users' history rows, their test rows)`` (see the module docstring).

    Raises:
        DataError: Too few users to hold any out.
    """
    users = np.asarray(columns["user_id"])
    unique = np.unique(users)
    held_count = round(len(unique) * new_user_fraction)
    if held_count < 1 or held_count >= len(unique):
        raise DataError(f"--split-method users holds out {new_user_fraction:g} of {len(unique)} users: "
                        "that is none or all of them")
    held = np.random.default_rng(seed).choice(unique, held_count, replace=False)
    is_held = ids.isin(users, held)
    times = np.asarray(columns["timestamp"])
    order = np.lexsort((np.arange(len(users)), times, users))
    order = order[is_held[order]]
    history, test = _split_each_user(users, order, train_fraction)
    return np.flatnonzero(~is_held), history, test


def _split_each_user(users: np.ndarray, order: np.ndarray, train_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``order`` (grouped by user, earliest first): each user's first ``train_fraction`` train, at least one."""
    grouped = users[order]
    starts = np.r_[0, np.flatnonzero(grouped[1:] != grouped[:-1]) + 1]
    sizes = np.diff(np.r_[starts, len(order)])
    kept = np.maximum(1, np.round(sizes * train_fraction).astype(np.int64))
    position = np.arange(len(order)) - np.repeat(starts, sizes)
    in_train = position < np.repeat(kept, sizes)
    return np.sort(order[in_train]), np.sort(order[~in_train])


def sample_users(columns: Columns, most: int, seed: int) -> Columns:
    """The rows of at most ``most`` users: every row if there are no more users, else those of a seeded
    sample of them (``edgerank eval`` scores a large log's test users so, and the benchmarks compare on the
    same ones)."""
    users = np.unique(columns["user_id"])
    if len(users) <= most:
        return columns
    drawn = ids.isin(columns["user_id"], np.random.default_rng(seed).choice(users, most, replace=False))
    return {name: values[drawn] for name, values in columns.items()}
