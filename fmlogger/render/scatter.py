"""Scatter plots with axes, ticks, title and legend drawn in pure numpy (no matplotlib).

Text uses the built-in 6x12 bitmap font of ``fmlogger.render.font`` (printable ASCII), magnified
with the image (``text_scale``) so it stays readable where TensorBoard shrinks the image to its
card width (about 400 px by default): at the default 540x720 size glyphs are 12x24 pixels, about
7x13 on a card. Points are drawn in a fixed shuffled order, so no class is systematically hidden
under another, and identical inputs give identical pixels.

Example:
    >>> import numpy as np
    >>> xy = np.random.default_rng(0).normal(size=(100, 2))
    >>> image = scatter_image(xy, np.arange(100) % 3, ["a", "b", "c"], title="demo")
    >>> image.shape, image.dtype.name
    ((540, 720, 3), 'uint8')
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from fmlogger.render.font import GLYPH_HEIGHT, GLYPH_WIDTH, draw_text

PALETTE = np.array(
    [
        # Tableau 10, then its light variants (matplotlib's tab20, reordered)
        (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
        (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
        (174, 199, 232), (255, 187, 120), (152, 223, 138), (255, 152, 150), (197, 176, 213),
        (196, 156, 148), (247, 182, 210), (199, 199, 199), (219, 219, 141), (158, 218, 229),
        # matplotlib's tab20b
        (57, 59, 121), (82, 84, 163), (107, 110, 207), (156, 158, 222), (99, 121, 57),
        (140, 162, 82), (181, 207, 107), (206, 219, 156), (140, 109, 49), (189, 158, 57),
        (231, 186, 82), (231, 203, 148), (132, 60, 57), (173, 73, 74), (214, 97, 107),
        (231, 150, 156), (123, 65, 115), (165, 81, 148), (206, 109, 189), (222, 158, 214),
        # matplotlib's tab20c
        (49, 130, 189), (107, 174, 214), (158, 202, 225), (198, 219, 239), (230, 85, 13),
        (253, 141, 60), (253, 174, 107), (253, 208, 162), (49, 163, 84), (116, 196, 118),
        (161, 217, 155), (199, 233, 192), (117, 107, 177), (158, 154, 200), (188, 189, 220),
        (218, 218, 235), (99, 99, 99), (150, 150, 150), (189, 189, 189), (217, 217, 217),
    ],
    dtype=np.uint8,
)
"""Category colours, 60 distinct ones (every category an embedding view colours by has its own);
label ``i`` gets ``PALETTE[i % 60]``."""

BACKGROUND = (255, 255, 255)
INK = (40, 40, 40)
GRID = (232, 232, 232)
UNLABELLED = (31, 119, 180)
MAX_LEGEND_ENTRIES = 20
DEFAULT_SIZE = (540, 720)


def nice_ticks(lo: float, hi: float, target: int = 5) -> np.ndarray:
    """Round tick values (1, 2, 2.5 or 5 times a power of ten) inside ``[lo, hi]``."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return np.array([lo]) if math.isfinite(lo) else np.zeros(0)
    raw = (hi - lo) / max(target, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = first + step * np.arange(int(math.floor((hi - first) / step + 1e-9)) + 1)
    return np.where(np.abs(ticks) < step * 1e-9, 0.0, ticks)


def format_tick(value: float) -> str:
    """Short tick label: ``0.5``, ``-12``, ``1e+04``."""
    return f"{value:.3g}"


def _limits(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return -1.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    pad = (hi - lo) * 0.05 if hi > lo else max(abs(lo), 1.0) * 0.5
    return lo - pad, hi + pad


def text_scale_for(height: int, width: int) -> int:
    """Glyph magnification for an image of this size: 1 up to 539x719 px, 2 from 540x720, ..."""
    return max(1, min(height // 270, width // 360))


def disc(radius: int) -> list[tuple[int, int]]:
    """Pixel offsets ``(dy, dx)`` of a dot: 21 pixels at radius 2, 57 at radius 4."""
    r = range(-radius, radius + 1)
    return [(dy, dx) for dy in r for dx in r if dy * dy + dx * dx <= radius * radius + 1]


def scatter_image(
    points: np.ndarray,
    labels: np.ndarray | None = None,
    names: Sequence[str] | None = None,
    *,
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    size: tuple[int, int] = DEFAULT_SIZE,
    seed: int = 0,
    text_scale: int | None = None,
) -> np.ndarray:
    """Draws a 2-D scatter plot as an RGB image.

    Args:
        points: ``[m, 2]`` coordinates (x, y); non-finite points are left out.
        labels: int ``[m]`` category of each point (an index into ``names``), or None for one colour;
            category ``i`` is drawn in ``PALETTE[i % len(PALETTE)]``.
        names: legend text per category (``names[i]`` for label ``i``); at most 20 entries are
            listed, then ``+N more``.
        title, xlabel, ylabel: text above the plot and along its axes.
        size: ``(height, width)`` of the image in pixels, at least ``(120, 200)``.
        seed: the fixed drawing order of the points.
        text_scale: glyph and dot magnification; None: ``text_scale_for(*size)`` (2 at the
            default size). Dots have radius ``2 * text_scale``.

    Returns:
        uint8 ``[height, width, 3]``.
    """
    height, width = int(size[0]), int(size[1])
    if height < 120 or width < 200:
        raise ValueError(f"size must be at least (120, 200) pixels. Received: size={tuple(size)!r}")
    scale = int(text_scale) if text_scale is not None else text_scale_for(height, width)
    if scale < 1:
        raise ValueError(f"text_scale must be an integer >= 1 or None. Received: text_scale={text_scale!r}")
    glyph_h, glyph_w = GLYPH_HEIGHT * scale, GLYPH_WIDTH * scale
    points = np.asarray(points, np.float64).reshape(-1, 2)
    canvas = np.empty((height, width, 3), np.uint8)
    canvas[:] = BACKGROUND
    show_legend = labels is not None and names is not None and len(names) > 0
    legend_w = 0
    if show_legend:
        shown = list(names)[:MAX_LEGEND_ENTRIES]
        longest = max(len(str(n)) for n in shown + ["+00 more"])
        legend_w = min(16 * scale + glyph_w * longest + 8, width // 3)
    left, right = 14 + glyph_h + 6 * glyph_w, width - 10 - legend_w
    top, bottom = 8 + (glyph_h + 6 if title else 0), height - (2 * glyph_h + 14)
    xlo, xhi = _limits(points[:, 0])
    ylo, yhi = _limits(points[:, 1])
    sx = (right - left) / (xhi - xlo)
    sy = (bottom - top) / (yhi - ylo)
    # grid and ticks
    for value in nice_ticks(xlo, xhi):
        px = int(round(left + (value - xlo) * sx))
        canvas[top:bottom, px] = GRID
        canvas[bottom : bottom + 4, px] = INK
        draw_text(canvas, format_tick(value), bottom + 5, px, INK, anchor="center", scale=scale)
    for value in nice_ticks(ylo, yhi):
        py = int(round(bottom - (value - ylo) * sy))
        canvas[py, left:right] = GRID
        canvas[py, left - 4 : left] = INK
        draw_text(canvas, format_tick(value), py - glyph_h // 2, left - 6, INK, anchor="right", scale=scale)
    # points
    finite = np.all(np.isfinite(points), axis=1)
    order = np.random.default_rng(seed).permutation(len(points))
    order = order[finite[order]]
    px = np.round(left + (points[order, 0] - xlo) * sx).astype(np.int64)
    py = np.round(bottom - (points[order, 1] - ylo) * sy).astype(np.int64)
    if labels is None:
        colors = np.broadcast_to(np.array(UNLABELLED, np.uint8), (len(order), 3))
    else:
        codes = np.asarray(labels).astype(np.int64).reshape(-1)[order]
        colors = PALETTE[np.mod(codes, len(PALETTE))]
    for dy, dx in disc(2 * scale):  # a loop over the pixels of the dot, not over points
        yy, xx = py + dy, px + dx
        inside = (yy >= top) & (yy < bottom) & (xx > left) & (xx < right)
        canvas[yy[inside], xx[inside]] = colors[inside]
    # frame and labels
    canvas[top:bottom, left] = INK
    canvas[bottom, left:right] = INK
    if title:
        draw_text(canvas, title, 6, (left + right) // 2, INK, anchor="center", scale=scale)
    if xlabel:
        centre = (left + right) // 2
        draw_text(canvas, xlabel, height - glyph_h - 3, centre, INK, anchor="center", scale=scale)
    if ylabel:
        draw_text(canvas, ylabel, (top + bottom) // 2, 4, INK, anchor="center", vertical=True, scale=scale)
    if show_legend:
        _legend(canvas, list(names), right + 10, top, scale)
    return canvas


def _legend(canvas: np.ndarray, names: list, x: int, y: int, scale: int) -> None:
    """Rows of ``(GLYPH_HEIGHT + 4) * scale`` px: an 8x8 (times ``scale``) swatch, then the name."""
    step = (GLYPH_HEIGHT + 4) * scale
    box = 8 * scale
    for i, name in enumerate(names[:MAX_LEGEND_ENTRIES]):
        row = y + i * step
        canvas[row + 2 * scale : row + 2 * scale + box, x : x + box] = PALETTE[i % len(PALETTE)]
        draw_text(canvas, str(name), row, x + box + 4 * scale, INK, scale=scale)
    if len(names) > MAX_LEGEND_ENTRIES:
        more = f"+{len(names) - MAX_LEGEND_ENTRIES} more"
        draw_text(canvas, more, y + MAX_LEGEND_ENTRIES * step, x + box + 4 * scale, INK, scale=scale)
