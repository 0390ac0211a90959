"""New users: how well the history model ranks for someone it never trained on.

A seeded ``new_user_fraction`` of the users is held out of training entirely
(all their ratings). AutoRec and the fold-in are trained on the others with
the run's configuration. Each held-out user then gives the model the first
``h`` of their ratings by timestamp, for each ``h`` in ``HISTORY_SIZES``, and
the rest are predicted. Alongside: the global mean, item biases (the biases
baseline, whose unknown user has no bias) and the id-based AutoRec's answer
for an unknown id (its mean user row), none of which can use the history.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from interactions import ids, metrics
from trainer import baselines, data, history, scoring
from trainer.config import TrainConfig

log = logging.getLogger(__name__)

#: Ratings of a new user's history, first by timestamp.
HISTORY_SIZES = (1, 5, 10, 20, 50)
#: The models compared, in table order.
MODELS = ("history_model", "item_biases", "global_mean", "id_model_unknown_user")


def new_user_curve(ratings: data.Columns, user_ids: np.ndarray, movie_titles: np.ndarray,
                   config: TrainConfig) -> dict[str, Any]:
    """Trains without the held-out users and scores them at each history size.

    Args:
        ratings: Every rating, with ``timestamp``.
        user_ids, movie_titles: Vocabularies.
        config: The run's training configuration (``history.new_user_fraction``, ``seed``, AutoRec's settings).

    Returns:
        ``{"held_out_users", "history_sizes", "users": {"h": count}, "rmse": {model: {"h": RMSE}}}``
        (sizes as strings, as JSON keeps them); at size h, the users with more than h ratings.
    """
    from trainer import autorec
    from trainer.history_retrieval import RetrievalTables

    rng = np.random.default_rng(config.seed)
    held = set(rng.choice(user_ids, max(1, round(len(user_ids) * config.history.new_user_fraction)),
                          replace=False).tolist())
    is_held = ids.isin(ratings["user_id"], np.array(list(held)))
    train = {name: values[~is_held] for name, values in ratings.items()}
    new = {name: values[is_held] for name, values in ratings.items()}
    known_users = np.unique(train["user_id"])
    log.info("New users: %d held out of training (%d ratings); training AutoRec on the other %d",
             len(held), int(is_held.sum()), len(known_users))
    ranker, _ = autorec.train_autorec(train, new, known_users, movie_titles, config.ranking, config.seed, verbose=1)
    title_rows, user_rows = ranker.title_rows.embeddings.numpy(), ranker.user_rows.embeddings.numpy()
    empty = RetrievalTables(*(np.zeros((len(movie_titles) + 1, 1), np.float32) for _ in range(2)),
                            np.zeros(len(movie_titles) + 1, np.float32))
    ridge_per_rating, _ = history.choose_ridge_per_rating(ranker.held_out_fit, movie_titles, ranker.rating_range,
                                                          config.history, config.seed)
    model = history.HistoryModel(history.build_tables(title_rows, user_rows[0], empty, movie_titles,
                                                      ranker.rating_range, config.history, ridge_per_rating))
    personalize, score = scoring.saved_history_functions(model)
    index = baselines.Index(known_users, movie_titles)
    item_biases = baselines.Biases(index).fit(train)
    mean = float(np.mean(train["user_rating"]))
    columns = baselines.Index(user_ids, movie_titles).columns

    curve: dict[str, dict[str, float]] = {name: {} for name in MODELS}
    users: dict[str, int] = {}
    order = np.lexsort((new["timestamp"], new["user_id"]))
    by_user: dict[str, list[int]] = {}
    for position in order:
        by_user.setdefault(str(new["user_id"][position]), []).append(position)
    for size in HISTORY_SIZES:
        predicted: dict[str, list[np.ndarray]] = {name: [] for name in MODELS}
        truth = []
        for user, positions in by_user.items():
            if len(positions) <= size:
                continue
            seen, rest = np.array(positions[:size]), np.array(positions[size:])
            titles = new["movie_title"][rest]
            state = personalize(new["movie_title"][seen].tolist(), new["user_rating"][seen].astype(np.float32))
            predicted["history_model"].append(score(state, titles.tolist()))
            predicted["item_biases"].append(item_biases.predict(np.array(["\0unknown"] * len(rest)), titles))
            predicted["global_mean"].append(np.full(len(rest), mean))
            predicted["id_model_unknown_user"].append(np.clip(
                title_rows[columns(titles) + 1] @ user_rows[0], *ranker.rating_range))
            truth.append(new["user_rating"][rest])
        users[str(size)] = len(truth)
        if truth:
            actual = np.concatenate(truth)
            for name in MODELS:
                curve[name][str(size)] = metrics.rmse(np.concatenate(predicted[name]), actual)
    log.debug("New users, RMSE by history size: %s", {name: {h: round(v, 4) for h, v in values.items()}
                                                    for name, values in curve.items()})
    return {"held_out_users": len(held), "history_sizes": list(HISTORY_SIZES), "users": users, "rmse": curve}


def plot_curve(curve: dict[str, Any], path: Path) -> None:
    """RMSE against history size, one line per model, as a PNG (matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    for name, values in curve["rmse"].items():
        sizes = sorted(values, key=int)
        axes.plot([int(h) for h in sizes], [values[h] for h in sizes], marker="o", label=name.replace("_", " "))
    axes.set_xscale("log")
    axes.set_xlabel("ratings in the new user's history (first by time)")
    axes.set_ylabel("RMSE on the user's other ratings")
    axes.set_title(f"New users ({curve['held_out_users']} held out of training)")
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp.png")
    figure.savefig(temporary, dpi=120)
    plt.close(figure)
    temporary.replace(path)
