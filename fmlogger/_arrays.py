"""Arrays on the host: a tensor of any backend (anything with ``.numpy()``) or array-like as numpy;
evenly spread picks (layers, channels, steps).

Example:
    >>> to_numpy([1, 2]).tolist(), spread(10, 4)
    ([1, 2], [0, 3, 6, 9])
"""

from __future__ import annotations

import numpy as np


def to_numpy(x) -> np.ndarray:
    """``x`` as numpy: ``x.numpy()`` for a tensor, else ``np.asarray(x)`` (no copy of an array)."""
    return np.asarray(x.numpy() if hasattr(x, "numpy") else x)


def spread(count: int, k: int) -> list[int]:
    """Indices of ``k`` of ``count`` items, evenly spaced, first and last included (all of them
    when ``k >= count``)."""
    return np.unique(np.linspace(0, count - 1, min(k, count)).round().astype(int)).tolist()
