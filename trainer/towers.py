"""String-id embedding towers shared by the ranking and retrieval models."""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def string_embedding(vocabulary: np.ndarray, dim: int) -> tf.keras.Model:
    """Raw strings [B] -> embeddings [B, dim], with the vocabulary inside the model.

    One out-of-vocabulary bucket (index 0) and no mask token: unknown strings
    share one embedding, and the lookup converts to TFLite's built-in
    hashtable ops (no Flex), which holds while ``num_oov_indices <= 1``.
    """
    return tf.keras.Sequential(
        [
            tf.keras.layers.StringLookup(vocabulary=vocabulary, mask_token=None),
            tf.keras.layers.Embedding(len(vocabulary) + 1, dim),
        ]
    )
