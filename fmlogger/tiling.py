"""Arranging maps into one grid image per sample (pure numpy: one reshape, no loop over channels).

Example:
    >>> import numpy as np
    >>> grid = tile(np.zeros((2, 5, 4, 4), np.uint16), scale=(2, 2), padding=1, pad_code=9)
    >>> grid.shape  # 5 tiles -> 2 rows x 3 cols of 8x8 px, 1 px padding around every tile
    (2, 19, 28)
"""

from __future__ import annotations

import math

import numpy as np


def grid_shape(n_tiles: int, cols: int | None = None) -> tuple[int, int]:
    """Rows and columns for ``n_tiles``: near-square (``cols = ceil(sqrt(n))``) unless ``cols``."""
    if n_tiles <= 0:
        return 0, 0
    cols = min(cols or math.ceil(math.sqrt(n_tiles)), n_tiles)
    return math.ceil(n_tiles / cols), cols


def uniform_scale(height: int, width: int, min_tile_size: int) -> tuple[int, int]:
    """Integer nearest-neighbour factor so the longer side of a map reaches ``min_tile_size``."""
    factor = max(1, math.ceil(min_tile_size / max(height, width, 1)))
    return factor, factor


def axis_scale(height: int, width: int, min_tile_size: int) -> tuple[int, int]:
    """Per-axis integer factors so each side reaches ``min_tile_size`` (strips and heatmaps)."""
    return max(1, math.ceil(min_tile_size / max(height, 1))), max(1, math.ceil(min_tile_size / max(width, 1)))


def grid_size(
    map_shape: tuple[int, int], n_tiles: int, *, scale=(1, 1), cols=None, padding=1
) -> tuple[int, int]:
    """Height and width in pixels of the grid that ``tile`` builds."""
    rows, cols = grid_shape(n_tiles, cols)
    tile_h, tile_w = map_shape[0] * scale[0], map_shape[1] * scale[1]
    return rows * (tile_h + padding) + padding, cols * (tile_w + padding) + padding


def tile(
    maps: np.ndarray,
    *,
    scale: tuple[int, int] = (1, 1),
    cols: int | None = None,
    padding: int = 1,
    pad_code: int = 0,
) -> np.ndarray:
    """Tiles maps ``[n, k, h, w]`` into images ``[n, H, W]`` with ``padding`` px around each tile.

    Tiles fill the grid row by row (channel 0 top left). Each map is upscaled by the integer
    factors ``scale = (sy, sx)`` (nearest neighbour); empty grid cells and padding get
    ``pad_code``. The output has ``maps``' dtype; see ``grid_size`` for its height and width.
    """
    n, k, h, w = maps.shape
    rows, cols = grid_shape(k, cols)
    sy, sx = scale
    th, tw = h * sy, w * sx
    if (sy, sx) != (1, 1):
        maps = np.broadcast_to(maps[:, :, :, None, :, None], (n, k, h, sy, w, sx)).reshape(n, k, th, tw)
    blocks = np.full((n, rows, padding + th, cols, padding + tw), pad_code, dtype=maps.dtype)
    cells = np.full((n, rows * cols, th, tw), pad_code, dtype=maps.dtype)
    cells[:, :k] = maps
    blocks[:, :, padding:, :, padding:] = cells.reshape(n, rows, cols, th, tw).transpose(0, 1, 3, 2, 4)
    grid = blocks.reshape(n, rows * (padding + th), cols * (padding + tw))
    return np.pad(grid, ((0, 0), (0, padding), (0, padding)), constant_values=pad_code)
