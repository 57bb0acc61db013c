"""Pooling activations to one vector per sample: golden values per mode and layout."""

from __future__ import annotations

import numpy as np
import pytest

from fmlogger.render.pooling import pool


def test_pool_modes_golden():
    a = np.arange(2 * 2 * 2 * 3, dtype=np.float32).reshape(2, 2, 2, 3)
    # sample 0, channel 0 holds 0, 3, 6, 9: mean 4.5, max 9
    assert pool(a, "avg")[0].tolist() == [4.5, 5.5, 6.5]
    assert pool(a, "max")[0].tolist() == [9.0, 10.0, 11.0]
    assert pool(a, "flatten").shape == (2, 12) and pool(a, "flatten")[1, 0] == 12.0
    assert np.array_equal(pool(a.transpose(0, 3, 1, 2), "avg", "channels_first"), pool(a, "avg"))
    assert pool(np.ones((4, 7, 5)), "max").shape == (4, 5)  # sequences: over time
    dense = np.ones((3, 9), np.float64)
    assert pool(dense, "flatten").shape == (3, 9) and pool(dense, "avg").dtype == np.float32


def test_pool_rejects_unknown_mode():
    expected = (
        r"embedding_pooling must be one of \('avg', 'max', 'flatten'\)\. "
        r"Received: embedding_pooling='mean'"
    )
    with pytest.raises(ValueError, match=expected):
        pool(np.ones((2, 3)), "mean")
