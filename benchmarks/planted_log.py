"""A MovieLens-25M-shaped rating log with a planted low-rank truth, so quality is measured against it.

At ``scale`` 1 the log has MovieLens 25M's shape: 162,541 users, 59,047
items, 25,000,095 ratings; ``scale`` s keeps s of each (at least 20 ratings
per user, at most half the catalogue). Its long tails follow MovieLens 25M's:

* **Item popularity** is Zipf–Mandelbrot, ``π_k ∝ (k + 300 s)^-2`` for the
  item of popularity rank k: at scale 1 the top item holds 0.33% of the
  ratings (Forrest Gump's share of MovieLens 25M) and the median item about 8.
* **User activity** is 20 ratings (MovieLens' minimum) plus a share of the
  rest ``∝ k^-0.5`` for the user of activity rank k: the heaviest user rates
  about 200 times the mean (MovieLens 25M: 32,202 against 154).

The planted truth: each user has a taste ``p_u`` and each item a profile
``q_i`` (``rank`` dimensions, standard normal over the square root of the
rank, so ``p_u · q_i`` has a standard deviation near 1), plus biases.
A user picks which items to rate, without replacement, with probability
``∝ π_i exp(exposure · p_u · q_i)``: people watch what is popular and what
they like. A rating is ``mean + b_u + b_i + taste_weight · p_u · q_i + ε``,
``ε ~ N(0, noise²)``, rounded to half stars within 0.5–5. The planted
model's own figures (``planted_figures``) are the ceiling a trained model is
held against: its RMSE is the noise floor, and its recall@k ranks a user's
unseen items by ``log π_i + exposure · p_u · q_i``, the order they were drawn in.

Written as Parquet a block of users at a time (``write_planted_log``):
``user_id``, ``item_id`` (integers from 1), ``rating`` and ``timestamp``
columns, and the truth beside it in ``planted.npz``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from edge_runtime import atomic

#: MovieLens 25M's shape.
USERS, ITEMS, RATINGS = 162_541, 59_047, 25_000_095
#: Zipf–Mandelbrot item popularity: exponent and offset (times the scale).
ITEM_EXPONENT, ITEM_OFFSET = 2.0, 300.0
#: User activity: MovieLens' minimum per user, and the Zipf exponent of the rest.
MIN_USER_RATINGS, USER_EXPONENT = 20, 0.5
#: Users generated at a time (bounds memory at this many × items floats).
BLOCK_USERS = 256


@dataclass(frozen=True)
class PlantedTruth:
    """The model a planted log was drawn from (``planted.npz``).

    Attributes:
        user_factors: [users, rank] ``p_u``; row u is user id u + 1.
        item_factors: [items, rank] ``q_i``; row i is item id i + 1.
        user_bias, item_bias: [users] and [items] rating offsets.
        log_popularity: [items] ``log π_i``.
        mean, taste_weight, exposure, noise: The scalars of the module docstring.
    """

    user_factors: np.ndarray
    item_factors: np.ndarray
    user_bias: np.ndarray
    item_bias: np.ndarray
    log_popularity: np.ndarray
    mean: float
    taste_weight: float
    exposure: float
    noise: float

    def ratings(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """The noiseless planted rating of each (user row, item row) pair, within 0.5–5."""
        taste = np.einsum("ij,ij->i", self.user_factors[users], self.item_factors[items])
        return np.clip(self.mean + self.user_bias[users] + self.item_bias[items] + self.taste_weight * taste, 0.5, 5.0)

    def exposure_scores(self, users: np.ndarray) -> np.ndarray:
        """[len(users), items] how likely each user is to pick each item (log-odds up to a constant)."""
        return self.log_popularity[None, :] + self.exposure * (self.user_factors[users] @ self.item_factors.T)

    def save(self, path: Path) -> None:
        atomic.write_bytes(path, _npz_bytes(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> PlantedTruth:
        with np.load(path) as stored:
            values = {name: stored[name] for name in stored.files}
        return cls(**{name: value if value.ndim else float(value) for name, value in values.items()})


def _npz_bytes(arrays: dict) -> bytes:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def shape(scale: float) -> tuple[int, int, int]:
    """``(users, items, ratings)`` at ``scale`` (1: MovieLens 25M's)."""
    return max(2, round(USERS * scale)), max(2, round(ITEMS * scale)), max(2, round(RATINGS * scale))


def user_counts(users: int, items: int, ratings: int) -> np.ndarray:
    """Ratings per user: ``MIN_USER_RATINGS`` plus a Zipf share of the rest, at most half the catalogue.

    The counts add up to ``ratings`` unless the caps make that impossible; users are in activity order.
    """
    most = max(1, items // 2)
    least = min(MIN_USER_RATINGS, most)
    weights = np.arange(1, users + 1, dtype=np.float64) ** -USER_EXPONENT
    ratings = min(ratings, most * users)

    def filled(multiplier: float) -> np.ndarray:  # each user's share of the rest, capped
        return np.minimum(least + multiplier * weights, most)

    low, high = 0.0, float(ratings)  # the multiplier that hands out exactly ``ratings``, by bisection
    for _ in range(100):
        middle = (low + high) / 2
        low, high = (middle, high) if filled(middle).sum() < ratings else (low, middle)
    shares = filled(high)
    counts = np.floor(shares).astype(np.int64)
    # What rounding down left: one more each to the users with the largest remainders.
    counts[np.argsort(counts - shares, kind="stable")[:ratings - counts.sum()]] += 1
    return counts


def write_planted_log(folder: Path, scale: float, rank: int = 16, noise: float = 0.7, exposure: float = 1.0,
                      taste_weight: float = 0.5, seed: int = 42) -> dict:
    """Draws the log at ``scale`` into ``folder/ratings.parquet`` and its truth into ``folder/planted.npz``.

    Args:
        folder: Where the two files go (created).
        scale: 1 for MovieLens 25M's shape; 0.1 and 0.01 for smaller copies.
        rank: Dimensions of the planted tastes.
        noise: Standard deviation of the rating noise ε.
        exposure: How strongly taste drives which items a user rates.
        taste_weight: How much a rating moves per unit of ``p_u · q_i``.
        seed: Seeds everything drawn.

    Returns:
        ``{"users", "items", "ratings", "rank", "noise", …}``: what was written.
    """
    users, items, ratings = shape(scale)
    rng = np.random.default_rng(seed)
    popularity = (np.arange(1, items + 1) + ITEM_OFFSET * scale) ** -ITEM_EXPONENT
    truth = PlantedTruth(
        user_factors=(rng.standard_normal((users, rank)) / np.sqrt(rank)).astype(np.float32),
        item_factors=(rng.standard_normal((items, rank))).astype(np.float32),
        user_bias=rng.normal(0.0, 0.35, users).astype(np.float32),
        item_bias=rng.normal(0.0, 0.4, items).astype(np.float32),
        log_popularity=np.log(popularity / popularity.sum()).astype(np.float32),
        mean=3.5, taste_weight=taste_weight, exposure=exposure, noise=noise)
    counts = user_counts(users, items, ratings)
    folder.mkdir(parents=True, exist_ok=True)
    schema = pa.schema([("user_id", pa.int32()), ("item_id", pa.int32()), ("rating", pa.float32()),
                        ("timestamp", pa.int64())])
    path = folder / "ratings.parquet"
    with atomic.file(path) as written, pq.ParquetWriter(written, schema) as writer:
        for start in range(0, users, BLOCK_USERS):
            block = np.arange(start, min(start + BLOCK_USERS, users))
            # Drawing without replacement ∝ exp(key): the largest keys plus Gumbel noise (Gumbel-top-k).
            keys = truth.exposure_scores(block) + rng.gumbel(size=(len(block), items)).astype(np.float32)
            # Each user's largest keys, best first: partitioned, then only those sorted (sorting whole rows
            # took 7 minutes at scale 1).
            most = int(counts[block].max())
            best = np.argpartition(-keys, most - 1, axis=1)[:, :most]
            order = np.take_along_axis(best, np.argsort(-np.take_along_axis(keys, best, axis=1), axis=1), axis=1)
            picked = [order[row, :counts[user]] for row, user in enumerate(block)]
            user_rows = np.repeat(block, counts[block])
            item_rows = np.concatenate(picked)
            values = truth.ratings(user_rows, item_rows) + rng.normal(0.0, noise, len(user_rows))
            stars = np.clip(np.round(values * 2) / 2, 0.5, 5.0).astype(np.float32)
            times = 1_000_000_000 + rng.integers(0, 300_000_000, len(user_rows))
            writer.write_table(pa.table({"user_id": pa.array(user_rows + 1, pa.int32()),
                                         "item_id": pa.array(item_rows + 1, pa.int32()),
                                         "rating": stars, "timestamp": times}, schema=schema))
    truth.save(folder / "planted.npz")
    return {"users": users, "items": items, "ratings": int(counts.sum()), "rank": rank, "noise": noise,
            "exposure": exposure, "taste_weight": taste_weight, "item_popularity": f"(k + {ITEM_OFFSET:g} × scale)^-"
            f"{ITEM_EXPONENT:g}", "user_activity": f"{MIN_USER_RATINGS} + rest ∝ k^-{USER_EXPONENT:g}",
            "seed": seed}
