"""Layer outputs -> maps ``[n, k, h, w]``: which axis gives the tiles, which the rows and columns.

``k`` maps of ``h`` x ``w`` are what ``fmlogger.render.renderer`` normalizes, tiles and colours:
channels of an image, heads of an attention layer, or one heatmap of a sequence.

Example:
    >>> import numpy as np
    >>> maps, kind = to_maps(np.zeros((2, 64, 4, 16)))    # 64 tokens, 4 heads of 16
    >>> maps.shape, kind
    ((2, 4, 16, 64), 'heads')
"""

from __future__ import annotations

import numpy as np


class UnsupportedOutput(ValueError):
    """A layer output the renderer cannot draw (5-D volumes, scalars, nested structures)."""


HEAD_AXIS_MAX = 16  # ViT-B and BERT-base have 12 heads; a CNN map this small is square-ish
HEAD_AXIS_RATIO = 4


def head_axis(shape: tuple) -> int | None:
    """1 or 2: the middle axis of a channels_last ``[n, a, b, c]`` that indexes heads, not pixels.

    It is the shorter of ``a`` and ``b`` when that is below ``HEAD_AXIS_MAX`` (16) and at most a
    quarter of the other: ``[n, 64, 4, 16]`` (64 tokens, 4 heads) -> 2; ``[n, 4, 64, 64]`` (4
    heads of 64 x 64 attention scores) -> 1; ``[n, 1, 50, c]`` -> 1; ``[n, 7, 7, c]`` and
    ``[n, 56, 28, c]`` are images (None).

    Example:
        >>> head_axis((2, 64, 4, 16)), head_axis((2, 7, 7, 512))
        (2, None)
    """
    a, b = int(shape[1]), int(shape[2])
    short, long = min(a, b), max(a, b)
    if 1 <= short < HEAD_AXIS_MAX and long >= HEAD_AXIS_RATIO * short:
        return 1 if a <= b else 2
    return None


def to_maps(x: np.ndarray, data_format: str = "channels_last") -> tuple[np.ndarray, str]:
    """Reshapes a layer output to maps ``[n, k, h, w]`` and says how they are drawn.

    ``kind`` is ``"grid"`` (k channels of h x w pixels), ``"heads"`` (k heads, see
    ``head_axis``: h = the last axis, w = the long middle axis), ``"heatmap"`` (k = 1) or
    ``"strip"`` (k = h = 1).

    Raises:
        UnsupportedOutput: for ranks other than 2, 3 and 4.
    """
    x = np.asarray(x)
    if x.ndim == 4:
        x = x.transpose(0, 2, 3, 1) if data_format == "channels_first" else x  # [n, a, b, c]
        axis = head_axis(x.shape)
        if axis is not None:  # heads first, then the last axis down and the long axis across
            return x.transpose(0, axis, 3, 3 - axis), "heads"
        return x.transpose(0, 3, 1, 2), "grid"
    if x.ndim == 3:  # (n, time, channels) -> one heatmap, channels down and time across
        return (x if data_format == "channels_first" else x.transpose(0, 2, 1))[:, None], "heatmap"
    if x.ndim == 2:
        return x[:, None, None, :], "strip"
    if x.ndim == 5:
        raise UnsupportedOutput(
            f"5-D output of shape {x.shape} (volumes, e.g. Conv3D) is not drawn; "
            "pick 2-D, 3-D or 4-D layers, or reshape the volume and use log_arrays."
        )
    raise UnsupportedOutput(
        f"output of shape {x.shape} has rank {x.ndim}; only rank 2 (units), 3 (sequences) "
        "and 4 (feature maps) can be drawn."
    )
