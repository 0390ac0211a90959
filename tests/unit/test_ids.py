"""Id lookups by hashing (``interactions.ids``) give what NumPy's sorting lookups give."""

from __future__ import annotations

import numpy as np
import pytest

from interactions import ids


@pytest.fixture
def log_ids() -> tuple[np.ndarray, np.ndarray]:
    """A sorted vocabulary of text ids and 5,000 ids drawn from it, with some outside it."""
    rng = np.random.default_rng(7)
    vocabulary = np.unique(rng.integers(0, 5_000, 800).astype(str))
    values = vocabulary[rng.integers(0, len(vocabulary), 5_000)]
    values[::17] = np.array(["x-unknown", "", "99999"])[rng.integers(0, 3, len(values[::17]))]
    return vocabulary, values


def test_positions_are_each_id_s_place_in_the_vocabulary_and_minus_one_outside(log_ids) -> None:
    vocabulary, values = log_ids
    found = ids.positions(vocabulary, values)
    assert found.dtype == np.int64
    known = found >= 0
    np.testing.assert_array_equal(vocabulary[found[known]], values[known])
    np.testing.assert_array_equal(known, np.isin(values, vocabulary))
    assert (~known).sum() == len(values[::17])
    assert ids.positions(vocabulary, values[:0]).shape == (0,)
    np.testing.assert_array_equal(ids.positions(vocabulary[:0], values[:3]), [-1, -1, -1])


def test_isin_and_distinct_agree_with_numpy(log_ids) -> None:
    vocabulary, values = log_ids
    wanted = vocabulary[::3]
    np.testing.assert_array_equal(ids.isin(values, wanted), np.isin(values, wanted))
    assert ids.isin(values, wanted[:0]).sum() == 0 and len(ids.isin(values[:0], wanted)) == 0
    which = np.arange(len(values)) % 2 == 0
    np.testing.assert_array_equal(ids.distinct(values, which), np.unique(values[which]))
    np.testing.assert_array_equal(ids.distinct(values), np.unique(values))
    assert ids.distinct(values).dtype == values.dtype
