"""String-id embedding towers and the input pipeline shared by the ranking and retrieval models."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import tensorflow as tf


def string_embedding(vocabulary: np.ndarray, dim: int, table: np.ndarray | None = None) -> tf.keras.Model:
    """Raw strings [B] -> embeddings [B, dim], with the vocabulary inside the model.

    One out-of-vocabulary bucket (index 0) and no mask token: unknown strings
    share one embedding, and the lookup converts to TFLite's built-in
    hashtable ops (no Flex), which holds while ``num_oov_indices <= 1``.

    Args:
        vocabulary: The known strings.
        dim: Embedding size.
        table: Fixed [len(vocabulary) + 1, dim] rows, the out-of-vocabulary row first (not
            trained); ``None``: trainable rows, initialised at random.
    """
    # A fixed table is set as the layer's weights, not through a Constant initializer: Keras serializes a layer's
    # config on every save, and the initializer's holds the table as nested lists (162,541 x 65: 43 s, 1.1 GiB).
    embedding = (tf.keras.layers.Embedding(len(vocabulary) + 1, dim) if table is None else
                 tf.keras.layers.Embedding(len(vocabulary) + 1, dim, weights=[table], trainable=False))
    return tf.keras.Sequential([tf.keras.layers.StringLookup(vocabulary=vocabulary, mask_token=None), embedding])


def input_pipeline(examples: tf.data.Dataset, batch_size: int, shuffle_seed: int | None = None) -> tf.data.Dataset:
    """Batches for ``fit`` or ``evaluate``: the tutorials' order, cached, prefetched.

    Args:
        examples: Unbatched examples.
        batch_size: Global batch size (split across replicas by the strategy).
        shuffle_seed: Shuffle once, with this seed, before batching (the
            tutorials' ``shuffle(100_000, seed)``); ``None`` keeps the order.

    Returns:
        Batches, shuffled and batched once and then cached, so every epoch
        reads them from memory while the next batch is prefetched.
    """
    if shuffle_seed is not None:
        examples = examples.shuffle(100_000, seed=shuffle_seed)
    return examples.batch(batch_size).cache().prefetch(tf.data.AUTOTUNE)


@contextlib.contextmanager
def float32_policy() -> Iterator[None]:
    """Keras layers created in the block compute in float32, whatever the global (mixed) policy."""
    policy = tf.keras.mixed_precision.global_policy()
    tf.keras.mixed_precision.set_global_policy("float32")
    try:
        yield
    finally:
        tf.keras.mixed_precision.set_global_policy(policy)
