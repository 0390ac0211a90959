"""The history model for implicit feedback: the user's items in, a preference for every item out.

Logs of plays, clicks or purchases say how much, not how good, so there is
no rating to predict. This model keeps ``trainer.history``'s contract (the
same three signatures, state layout and bundle) with the history retrieval
(``trainer.history_retrieval``) doing the ranking too:

* ``personalize(history_titles [H], history_ratings [H]) -> user_state``:
  the second input holds the user's weights (plays, clicks, seconds; any
  number above 0). The items with a weight above 0 are pooled into the
  user's vector, as in training, and the whole catalogue is scored with it
  into the state: ``[preference per item (items + 1) | vector (dim)]``.
* ``score(user_state, movie_title [N]) -> rating [N]``: each item's
  preference, a lookup in the state. Higher means more likely to be chosen;
  it is no rating, and the manifest says so (``architecture.score``).
* ``recommend``: as ``trainer.history``, by the same preference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from edge_runtime.contract import HISTORY_KNOWN_OUTPUT, HISTORY_RATINGS_INPUT, HISTORY_TITLES_INPUT, STATE_OUTPUT
from interactions import metrics
from interactions.schema import Columns
from trainer import baselines
from trainer.config import HistoryConfig
from trainer.history import HistoryModel
from trainer.history_retrieval import RetrievalTables


@dataclass(frozen=True)
class PreferenceTables:
    """Everything the implicit-feedback model holds, one row per item (row 0: out of vocabulary).

    Attributes:
        titles: The catalogue (item ids), in vocabulary order.
        retrieval: The history retrieval's tables.
        recommend_k: Items ``recommend`` returns (at most the catalogue).
    """

    titles: np.ndarray
    retrieval: RetrievalTables
    recommend_k: int

    def architecture(self) -> dict:
        """What the manifest records: sizes only, none of them the number of users."""
        return {"model": "history", "ranking": "preference", "feedback": "implicit", "score": "preference",
                "title_vocabulary": len(self.titles), "retrieval_embedding": int(self.retrieval.inputs.shape[1]),
                "state_size": self.state_size, "recommend_k": self.recommend_k, "dense": []}

    @property
    def state_size(self) -> int:
        """Floats in ``user_state``: a preference per item (out of vocabulary too) and the pooled vector."""
        return int(self.retrieval.inputs.shape[0] + self.retrieval.inputs.shape[1])


class PreferenceModel(HistoryModel):
    """``score`` and ``recommend`` of ``trainer.history.HistoryModel``, over preferences (module docstring)."""

    def __init__(self, tables: PreferenceTables) -> None:  # noqa: super().__init__ builds AutoRec's tables
        tf.Module.__init__(self)
        self.tables = tables
        self.title_lookup = tf.keras.layers.StringLookup(vocabulary=tables.titles, mask_token=None)
        self.retrieval_inputs = tf.constant(tables.retrieval.inputs, tf.float32)
        self.retrieval_outputs = tf.constant(tables.retrieval.outputs, tf.float32)
        self.retrieval_bias = tf.constant(tables.retrieval.bias[None, :], tf.float32)
        self.vocabulary = tf.constant(np.concatenate([[""], tables.titles]).astype(object))
        self.ratings_size = len(tables.titles) + 1
        self.unknown_row = tf.constant(np.eye(1, len(tables.titles) + 1, dtype=np.float32))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=HISTORY_TITLES_INPUT),
                                  tf.TensorSpec([None], tf.float32, name=HISTORY_RATINGS_INPUT)])
    def personalize(self, history_titles: tf.Tensor, history_ratings: tf.Tensor) -> dict[str, tf.Tensor]:
        index = self.title_lookup(history_titles)
        # One padding entry (out of vocabulary), so an empty history is no empty tensor.
        padded = tf.concat([index, tf.zeros([1], index.dtype)], 0)
        weights = tf.concat([history_ratings, tf.zeros([1])], 0)
        chosen = tf.cast((padded > 0) & (weights > 0), tf.float32)[:, None]      # [H + 1, 1]
        pooled = tf.reduce_sum(tf.gather(self.retrieval_inputs, padded) * chosen, 0, keepdims=True)
        pooled /= tf.sqrt(tf.maximum(tf.reduce_sum(chosen), 1.0))
        preferences = tf.matmul(pooled, self.retrieval_outputs, transpose_b=True) + self.retrieval_bias
        return {STATE_OUTPUT: tf.reshape(tf.concat([preferences, pooled], 1), [-1]),
                HISTORY_KNOWN_OUTPUT: index > 0}


def build_tables(retrieval: RetrievalTables, titles: np.ndarray, config: HistoryConfig) -> PreferenceTables:
    """The model's tables from the trained history retrieval."""
    return PreferenceTables(np.asarray(titles).astype(str), retrieval, min(config.recommend_k, len(titles)))


def test_figures(model: PreferenceModel, train: Columns, test: Columns, k: int) -> dict[str, float]:
    """Recall@k and NDCG@k over each user's unseen items, their training items the history.

    The scores are the model's own arithmetic in NumPy (pooled inputs against
    outputs and bias), over the users with test items.
    """
    users = np.unique(np.concatenate([train["user_id"], test["user_id"]]))
    index = baselines.Index(users, model.tables.titles)
    seen = _positions(index, train)
    held = _positions(index, test)
    retrieval = model.tables.retrieval
    candidates = retrieval.candidates()

    def score_block(rows: np.ndarray) -> np.ndarray:
        chosen = np.zeros((len(rows), len(index.titles)), np.float32)
        for row, user in enumerate(rows):
            chosen[row, seen[user]] = 1.0
        pooled = chosen @ retrieval.inputs[1:] / np.sqrt(np.maximum(chosen.sum(1, keepdims=True), 1.0))
        return np.concatenate([pooled, np.ones((len(rows), 1), np.float32)], axis=1) @ candidates.T

    figures = metrics.recall_and_ndcg(score_block, seen, held, k)
    return {key: value for key, value in figures.items() if key != "users"}


def _positions(index: baselines.Index, columns: Columns) -> list[np.ndarray]:
    """Per user of ``index``, the catalogue positions of their items in ``columns``."""
    rows, items = index.rows(columns["user_id"]), index.columns(columns["movie_title"])
    order = np.argsort(rows, kind="stable")
    bounds = np.searchsorted(rows[order], np.arange(len(index.users) + 1))
    return [items[order[bounds[user]:bounds[user + 1]]] for user in range(len(index.users))]
