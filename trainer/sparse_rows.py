"""Interaction matrices kept as sparse rows and densified one batch at a time, as Mult-VAE's reference code does.

A MovieLens-25M-sized log is 59,047 titles × 162,541 users: 38 GB as a dense
float32 matrix, about 0.3 GB as CSR rows. Every model of the ``best`` preset
trains from ``interaction_rows`` (``scipy.sparse`` CSR): AutoRec's title
vectors, the history retrieval's user histories. ``row_batches`` feeds them to
Keras as batches of ``tf.SparseTensor`` rows, gathered from one CSR copy per
matrix (shuffling shuffles row numbers, not rows), and ``dense_batches`` makes
each batch dense in the input pipeline, where a model needs it so.
``row_blocks`` does the same for NumPy code that scores users a block at a
time.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import tensorflow as tf
from scipy import sparse

#: Matrices up to this size (dense float32, all of them together) are sliced dense by ``dense_batches``.
DENSE_ROWS_BYTES = 64 << 20


def interaction_rows(rows: np.ndarray, columns: np.ndarray, values: np.ndarray,
                     shape: tuple[int, int]) -> sparse.csr_matrix:
    """A float32 CSR matrix of the cells ``(rows, columns) = values``; a repeated cell keeps its last value.

    Every given cell is stored, a value of 0 too: a stored cell is an observed one.

    Args:
        rows, columns: Equal-length integer positions, each within ``shape``.
        values: One value per cell.
        shape: ``(rows, columns)`` of the matrix.
    """
    keys = np.asarray(rows, np.int64) * shape[1] + np.asarray(columns, np.int64)
    # The last occurrence of each cell: np.unique returns the first index, so look at the cells reversed.
    _, first_reversed = np.unique(keys[::-1], return_index=True)
    last = len(keys) - 1 - first_reversed
    matrix = sparse.csr_matrix((np.asarray(values, np.float32)[last], (np.asarray(rows)[last],
                                                                        np.asarray(columns)[last])), shape=shape)
    matrix.sort_indices()
    return matrix


def row_batches(batch: int, shuffle_seed: int | None = None, **matrices: sparse.spmatrix) -> tf.data.Dataset:
    """Batches of rows: each element a dict of row-major ``tf.SparseTensor`` [≤ batch, columns], one per keyword.

    All matrices must have the same number of rows. Rows are shuffled (with ``shuffle_seed``, again each epoch)
    before batching when a seed is given: the row numbers are, in the order ``Dataset.shuffle`` gives rows.
    Each matrix is held once, as CSR (int32 columns, float32 values: 8 bytes a cell); a batch gathers its rows.
    Slicing ``tf.SparseTensor`` rows instead held 20 bytes a cell, and a shuffle buffer as much again.
    """
    rows = next(iter(matrices.values())).shape[0]
    tables = {}
    for name, matrix in matrices.items():
        matrix = sparse.csr_matrix(matrix)
        matrix.sort_indices()
        splits = tf.constant(matrix.indptr, tf.int64)
        tables[name] = (tf.RaggedTensor.from_row_splits(tf.constant(matrix.indices, tf.int32), splits),
                        tf.RaggedTensor.from_row_splits(tf.constant(matrix.data, tf.float32), splits),
                        matrix.shape[1])

    def gather(numbers: tf.Tensor) -> dict[str, tf.SparseTensor]:
        batch_rows = {}
        for name, (columns, values, width) in tables.items():
            picked = tf.gather(columns, numbers)
            indices = tf.stack([picked.value_rowids(), tf.cast(picked.flat_values, tf.int64)], axis=1)
            batch_rows[name] = tf.SparseTensor(indices, tf.gather(values, numbers).flat_values,
                                               tf.stack([tf.size(numbers, tf.int64), tf.constant(width, tf.int64)]))
        return batch_rows

    numbers = tf.data.Dataset.range(rows)
    if shuffle_seed is not None:
        numbers = numbers.shuffle(rows, seed=shuffle_seed)
    return numbers.batch(batch).map(gather, num_parallel_calls=tf.data.AUTOTUNE)


def dense_batches(batch: int, shuffle_seed: int | None = None, **matrices: sparse.spmatrix) -> tf.data.Dataset:
    """Batches of rows made dense: each element a dict of [≤ batch, columns] float32 tensors, one per keyword.

    Rows are shuffled (with ``shuffle_seed``) before batching when a seed is given. A batch is made dense
    inside the input pipeline, the only dense copy; matrices whose dense copies add up to at most
    ``DENSE_ROWS_BYTES`` are sliced dense instead, the same batches faster (tf.data slices dense rows
    more cheaply than sparse ones).
    """
    if sum(4 * matrix.shape[0] * matrix.shape[1] for matrix in matrices.values()) > DENSE_ROWS_BYTES:
        return row_batches(batch, shuffle_seed, **matrices).map(
            lambda element: {name: tf.sparse.to_dense(value) for name, value in element.items()},
            num_parallel_calls=tf.data.AUTOTUNE)
    rows = tf.data.Dataset.from_tensor_slices({name: matrix.toarray().astype(np.float32)
                                               for name, matrix in matrices.items()})
    if shuffle_seed is not None:
        rows = rows.shuffle(next(iter(matrices.values())).shape[0], seed=shuffle_seed)
    return rows.batch(batch)


def row_blocks(matrix: sparse.spmatrix, block: int) -> Iterator[tuple[int, np.ndarray]]:
    """``(first row, dense float32 [≤ block, columns])`` for consecutive blocks of ``matrix``'s rows."""
    matrix = sparse.csr_matrix(matrix)
    for start in range(0, matrix.shape[0], block):
        yield start, matrix[start : start + block].toarray().astype(np.float32, copy=False)
