"""Arrays on the host: a tensor of any backend (anything with ``.numpy()``) or array-like as numpy.

Example:
    >>> to_numpy([1, 2]).tolist()
    [1, 2]
"""

from __future__ import annotations

import numpy as np


def to_numpy(x) -> np.ndarray:
    """``x`` as numpy: ``x.numpy()`` for a tensor, else ``np.asarray(x)`` (no copy of an array)."""
    return np.asarray(x.numpy() if hasattr(x, "numpy") else x)
