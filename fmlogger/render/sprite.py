"""The Projector's sprite: input thumbnails tiled into one image of at most 8192 x 8192 px (numpy only).

Example:
    >>> import numpy as np
    >>> sprite, dim = make_sprite(images_to_uint8(np.random.default_rng(0).random((5, 16, 16))))
    >>> sprite.shape, dim            # 2 rows x 3 columns of 16 x 16 gray thumbnails
    ((32, 48, 1), (16, 16))
"""

from __future__ import annotations

import numpy as np

from fmlogger.render.normalize import to_uint8, value_range
from fmlogger.render.resize import resize_nearest

MAX_SPRITE_PX = 8192
"""The largest sprite side (pixels) the Projector accepts."""

MAX_THUMBNAIL_PX = 64
"""The longest thumbnail side: inputs larger than this are shrunk."""


def sprite_layout(n: int, height: int, width: int, *, max_px: int = MAX_SPRITE_PX,
                  max_thumbnail: int = MAX_THUMBNAIL_PX) -> tuple[int, int, int]:
    """Thumbnail size and grid for ``n`` images of ``height x width`` within ``max_px`` per side.

    The grid is ``cols = ceil(sqrt(n))`` square (the Projector's layout); thumbnails keep the
    aspect ratio, with their longer side at most ``max_thumbnail`` and ``cols`` of them fitting
    in ``max_px``.

    Returns:
        ``(thumb_height, thumb_width, cols)``.

    Example:
        >>> sprite_layout(100_000, 32, 32)   # 317 columns: 25 px thumbnails, 7925 px sprite
        (25, 25, 317)
    """
    cols = max(1, int(np.ceil(np.sqrt(n))))
    longest = min(max(height, width), max_thumbnail, max_px // cols)
    if longest < 1:
        raise ValueError(f"{n} thumbnails cannot fit in a {max_px} x {max_px} sprite.")
    scale = longest / max(height, width)
    return max(1, int(round(height * scale))), max(1, int(round(width * scale))), cols


def images_to_uint8(x: np.ndarray, data_format: str = "channels_last") -> np.ndarray | None:
    """Inputs -> uint8 ``[n, h, w, c]`` (c in 1, 3, 4) scaled from the set's min..max, or None if not images.

    ``[n, h, w]`` counts as gray images; ``channels_first`` inputs are transposed; uint8 inputs
    are kept as they are; NaN/Inf pixels become 0.
    """
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        return None
    if data_format == "channels_first":
        x = x.transpose(0, 2, 3, 1)
    if x.shape[-1] == 2 or x.shape[-1] > 4 or min(x.shape[1:3]) < 2:
        return None
    if x.dtype == np.uint8:
        return x
    x = x.astype(np.float32)
    lo, hi = value_range(x, tuple(range(x.ndim)))
    span = hi - lo
    unit = np.where(np.isfinite(x), (x - lo) / np.where(span > 0, span, 1), np.nan)
    return to_uint8(unit)


def make_sprite(images: np.ndarray, *, max_px: int = MAX_SPRITE_PX,
                max_thumbnail: int = MAX_THUMBNAIL_PX) -> tuple[np.ndarray, tuple[int, int]]:
    """Tiles uint8 images ``[n, h, w, c]`` row by row into one sprite within ``max_px`` x ``max_px``.

    Returns:
        ``(sprite, (thumb_width, thumb_height))``: uint8 ``[rows * th, cols * tw, c]`` and the
        thumbnail size in the Projector's ``single_image_dim`` order (width, height).

    Example:
        >>> sprite, dim = make_sprite(np.zeros((10, 8, 8, 1), np.uint8))
        >>> sprite.shape, dim
        ((24, 32, 1), (8, 8))
    """
    n, h, w, c = images.shape
    th, tw, cols = sprite_layout(n, h, w, max_px=max_px, max_thumbnail=max_thumbnail)
    rows = int(np.ceil(n / cols))
    thumbs = resize_nearest(images, (th, tw))
    grid = np.zeros((rows * cols, th, tw, c), np.uint8)
    grid[:n] = thumbs
    sprite = grid.reshape(rows, cols, th, tw, c).transpose(0, 2, 1, 3, 4).reshape(rows * th, cols * tw, c)
    return sprite, (tw, th)
