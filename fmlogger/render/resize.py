"""Resizing maps and images (numpy only): integer block means down, nearest neighbour and bilinear up.

Small maps are shown larger by an integer factor (every pixel a clean square); large maps are
averaged over integer blocks; heatmaps are laid over an input image with bilinear interpolation.

Example:
    >>> import numpy as np
    >>> maps = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    >>> block_mean(maps, 2)[0, 0].tolist()
    [[2.5, 4.5], [10.5, 12.5]]
    >>> upscale(np.eye(2)[None], 2, axes=(1, 2))[0].astype(int).tolist()
    [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]]
"""

from __future__ import annotations

import math

import numpy as np


def upscale_factor(height: int, width: int, min_size: int) -> int:
    """Integer nearest-neighbour factor so the longer side reaches ``min_size`` (at least 1)."""
    return max(1, math.ceil(min_size / max(height, width, 1)))


def axis_scale(height: int, width: int, min_size: int) -> tuple[int, int]:
    """Per-axis integer factors so each side reaches ``min_size`` (strips and heatmaps)."""
    return max(1, math.ceil(min_size / max(height, 1))), max(1, math.ceil(min_size / max(width, 1)))


def downscale_factor(height: int, width: int, max_size: int | None) -> int:
    """Integer factor that brings the longer side down to at most ``max_size`` (None: 1)."""
    if max_size is None:
        return 1
    return max(1, math.ceil(max(height, width) / max_size))


def block_mean(x: np.ndarray, factor: int | tuple[int, int], *, axes: tuple[int, int] = (2, 3)) -> np.ndarray:
    """Averages ``x`` over ``fy x fx`` blocks of its two ``axes`` (rows axis first), as float32.

    ``factor`` is one int for both axes or ``(fy, fx)``; a factor larger than its axis is cut to
    the axis length. Edge rows/columns that do not fill a block are dropped. NaN or Inf in a
    block gives NaN there. The default ``axes`` fit maps ``[n, k, h, w]``; ``axes=(1, 2)`` fits
    images ``[n, h, w, c]``.
    """
    x = np.asarray(x)
    fy, fx = (factor, factor) if np.isscalar(factor) else factor
    ay, ax = (axis % x.ndim for axis in axes)
    fy, fx = max(1, min(int(fy), x.shape[ay])), max(1, min(int(fx), x.shape[ax]))
    hh, ww = x.shape[ay] // fy, x.shape[ax] // fx
    # The sum of the fy * fx strided slices, one per offset in the block, in row-major order:
    # the order numpy's mean over the block axes adds them in, ~4x faster on channels-last maps.
    total = None
    with np.errstate(invalid="ignore", over="ignore"):
        for dy in range(fy):
            for dx in range(fx):
                index = [slice(None)] * x.ndim
                index[ay], index[ax] = slice(dy, hh * fy, fy), slice(dx, ww * fx, fx)
                part = x[tuple(index)]
                if total is None:
                    total = part.astype(np.float32)  # a copy in part's memory order
                else:
                    np.add(total, part, out=total, dtype=np.float32)
        total /= np.float32(fy * fx)
    return total


def upscale(x: np.ndarray, factor: int, *, axes: tuple[int, int] = (1, 2)) -> np.ndarray:
    """Nearest-neighbour upscaling by an integer ``factor`` along two ``axes``: every pixel a square."""
    if factor <= 1:
        return x
    return np.repeat(np.repeat(x, factor, axis=axes[0]), factor, axis=axes[1])


def resize_nearest(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resizes uint8 images ``[n, h, w, c]`` to ``size = (height, width)``: block means, then nearest.

    Shrinking first averages integer blocks (so thin lines do not vanish or alias), then every
    output pixel takes the input pixel under its centre.
    """
    height, width = size
    h, w = images.shape[1:3]
    fy, fx = max(1, h // height), max(1, w // width)
    if fy > 1 or fx > 1:
        images = np.floor(block_mean(images, (fy, fx), axes=(1, 2)) + 0.5).astype(np.uint8)
        h, w = images.shape[1:3]
    rows = np.minimum((np.arange(height) + 0.5) * h / height, h - 1).astype(np.int64)
    cols = np.minimum((np.arange(width) + 0.5) * w / width, w - 1).astype(np.int64)
    return images[:, rows][:, :, cols]


def resize_bilinear(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resizes maps ``[n, h, w]`` to ``[n, H, W]`` by bilinear interpolation (half-pixel centres).

    Matches ``tf.image.resize(..., "bilinear")`` (no antialiasing); vectorized, no pixel loop.
    """
    maps = np.asarray(maps, dtype=np.float32)
    h, w = maps.shape[1:]
    height, width = size
    if (h, w) == (height, width):
        return maps.copy()

    def axis(src: int, dst: int):
        pos = np.clip((np.arange(dst) + 0.5) * (src / dst) - 0.5, 0, src - 1)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, src - 1)
        return lo, hi, (pos - lo).astype(np.float32)

    y0, y1, fy = axis(h, height)
    x0, x1, fx = axis(w, width)
    rows = maps[:, y0, :] * (1 - fy)[None, :, None] + maps[:, y1, :] * fy[None, :, None]
    return rows[:, :, x0] * (1 - fx)[None, None, :] + rows[:, :, x1] * fx[None, None, :]
