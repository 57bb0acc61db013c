"""Per-layer statistics of a step: mean, std, zero fraction and NaN/Inf count (numpy only).

Written as ``feature_map_stats/<layer>/<stat>`` scalars (``tags.STAT_NAMES``).

Example:
    >>> import numpy as np
    >>> activation_stats(np.array([[0.0, 1.0], [np.nan, 3.0]], np.float32))
    {'mean': 1.3333333333333333, 'std': 1.247219128924647, 'zero_fraction': 0.25, 'nonfinite': 1}
"""

from __future__ import annotations

import numpy as np

_FAST_STATS_SIZE = 1 << 20


def activation_stats(x: np.ndarray) -> dict:
    """Mean and std of the finite values, fraction exactly zero, and the count of NaN/Inf."""
    x = np.asarray(x)
    # Outputs of a million values or more: numpy's pairwise float32 sums over one float32 copy,
    # ~5x faster than a float64 copy; errors stay near 1e-7 of the values' magnitude.
    big = x.dtype == np.float32 and x.size >= _FAST_STATS_SIZE
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.sum(x, dtype=np.float32) if big else np.float32(np.nan)
    if np.isfinite(total):  # NaN or +-Inf anywhere (or float32 overflow) makes the sum non-finite
        mean = np.float64(total) / x.size
        centred = np.subtract(x, np.float32(mean), dtype=np.float32)
        shift = np.float64(centred.sum()) / x.size  # corrects the float32 rounding of the mean
        np.multiply(centred, centred, out=centred)
        square_mean = np.float64(centred.sum()) / x.size
        return {
            "mean": float(mean + shift),
            "std": float(np.sqrt(max(square_mean - shift * shift, 0.0))),
            "zero_fraction": float(np.count_nonzero(x == 0) / x.size),
            "nonfinite": 0,
        }
    finite = np.isfinite(x)
    nonfinite = int(finite.size - np.count_nonzero(finite))
    values = x if nonfinite == 0 else x[finite]
    values = values.astype(np.float64, copy=False)
    return {
        "mean": float(values.mean()) if values.size else 0.0,
        "std": float(values.std()) if values.size else 0.0,
        "zero_fraction": float(np.count_nonzero(x == 0) / max(x.size, 1)),
        "nonfinite": nonfinite,
    }
