"""Pooling activations to one vector per sample, for embeddings (numpy only).

Example:
    >>> import numpy as np
    >>> pool(np.ones((2, 3, 3, 4)), "max").shape
    (2, 4)
"""

from __future__ import annotations

import numpy as np

POOLING = ("avg", "max", "flatten")
"""How ``pool`` turns a sample's activations into one vector."""


def pool(activations: np.ndarray, mode: str = "avg", data_format: str = "channels_last") -> np.ndarray:
    """One vector per sample: ``[n, ...]`` activations -> float32 ``[n, d]``.

    ``"avg"``/``"max"`` reduce over the spatial (or time) axes and keep the channels: ``[n, h, w,
    c]`` -> ``[n, c]`` (``channels_first``: ``[n, c, h, w]`` -> ``[n, c]``), ``[n, t, c]`` ->
    ``[n, c]``. ``"flatten"`` keeps everything: ``[n, h * w * c]``. ``[n, d]`` outputs are taken as
    they are with any mode.

    Example:
        >>> pool(np.ones((2, 3, 3, 4)), "avg").shape
        (2, 4)
    """
    if mode not in POOLING:
        raise ValueError(
            f"embedding_pooling must be one of {POOLING}. Received: embedding_pooling={mode!r}"
        )
    a = np.asarray(activations, dtype=np.float32)
    if a.ndim < 2:
        raise ValueError(
            f"an embedding layer needs outputs of rank >= 2 ([n, ...]). Received shape {a.shape}"
        )
    if a.ndim == 2:
        return a
    if mode == "flatten":
        return a.reshape(a.shape[0], -1)
    axes = tuple(range(2, a.ndim)) if data_format == "channels_first" else tuple(range(1, a.ndim - 1))
    return a.mean(axis=axes, dtype=np.float32) if mode == "avg" else a.max(axis=axes)
