"""A generated rating log with heavy users, a large catalogue and a planted model.

MovieLens 100K has few users past 200 ratings and 1,682 titles, so it cannot
show how the device model folds in a long history. This writes a log that
can: ``users`` users whose history lengths are log-uniform between
``min_history`` and ``max_history`` (half of them 200 or more with the
defaults), over ``titles`` titles whose popularity falls as a Zipf law
(``popularity_exponent``), rated by a planted low-rank model::

    rating = clip(round_to_half(mean + b_u + b_i + p_u · q_i + noise), 0.5, 5)

with ``rank`` Gaussian factors scaled so that ``p_u · q_i`` has standard
deviation ``factor_scale``, biases of standard deviation 0.3, and Gaussian
``noise``. The ratings are half stars on 0.5–5, as MovieLens latest-small's.

The files are MovieLens's CSV layout (``ratings.csv``, ``movies.csv``), so
``edgerank train --data FOLDER`` reads them as it reads MovieLens 25M.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.config import HeavyUsersConfig
from trainer.config import ConfigError
from interactions.metrics import HISTORY_BUCKETS


def write_heavy_user_log(config: HeavyUsersConfig) -> dict:
    """Writes ``ratings.csv`` and ``movies.csv`` into ``config.output_dir``.

    Returns:
        What was written: users, titles, ratings, and the users in each of ``eval``'s history-length
        buckets (``interactions.metrics.HISTORY_BUCKETS``, by all their ratings).

    Raises:
        ConfigError: The history bounds do not fit the catalogue, or there are no users.
    """
    if config.users < 1:
        raise ConfigError(f"--users must be at least 1, got {config.users}")
    if not 1 <= config.min_history <= config.max_history <= config.titles:
        raise ConfigError(f"need 1 <= --min-history ({config.min_history}) <= --max-history ({config.max_history}) "
                          f"<= --titles ({config.titles})")
    rng = np.random.default_rng(config.seed)
    lengths = np.exp(rng.uniform(np.log(config.min_history), np.log(config.max_history + 1), config.users))
    lengths = lengths.astype(int).clip(config.min_history, config.max_history)
    popularity = 1.0 / np.arange(1, config.titles + 1) ** config.popularity_exponent
    popularity /= popularity.sum()
    scale = np.sqrt(config.factor_scale) / config.rank ** 0.25  # p_u · q_i then has std factor_scale
    user_factors = rng.normal(0, scale, (config.users, config.rank))
    title_factors = rng.normal(0, scale, (config.titles, config.rank))
    user_bias, title_bias = rng.normal(0, 0.3, config.users), rng.normal(0, 0.3, config.titles)
    users, titles = [], []
    for user, length in enumerate(lengths):
        # Without replacement, by popularity: the Gumbel top-k trick draws all of a user's titles at once.
        keys = np.log(popularity) + rng.gumbel(size=config.titles)
        chosen = np.argpartition(-keys, length - 1)[:length]
        users.append(np.full(length, user))
        titles.append(chosen)
    user_index, title_index = np.concatenate(users), np.concatenate(titles)
    raw = (3.5 + user_bias[user_index] + title_bias[title_index]
           + np.einsum("ij,ij->i", user_factors[user_index], title_factors[title_index])
           + rng.normal(0, config.noise, len(user_index)))
    ratings = np.clip(np.round(raw * 2) / 2, 0.5, 5.0)
    timestamps = 1_500_000_000 + rng.integers(0, 10**8, len(user_index))
    folder = Path(config.output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "ratings.csv", "w", encoding="utf-8") as out:
        out.write("userId,movieId,rating,timestamp\n")
        np.savetxt(out, np.column_stack([user_index + 1, title_index + 1, ratings, timestamps]),
                   fmt=["%d", "%d", "%.1f", "%d"], delimiter=",")
    with open(folder / "movies.csv", "w", encoding="utf-8") as out:
        out.write("movieId,title,genres\n")
        out.writelines(f"{n + 1},Generated Title {n + 1} ({1900 + n % 120}),Drama\n" for n in range(config.titles))
    buckets = {name: int(((lengths >= fewest) & (lengths <= (most or config.max_history))).sum())
               for name, fewest, most in HISTORY_BUCKETS}
    return {"output_dir": str(folder), "users": config.users, "titles": config.titles,
            "ratings": int(len(ratings)), "users_by_history": buckets}
