"""Scatter plots with axes, ticks, title and legend drawn in pure numpy (no matplotlib).

Text uses a built-in 6x12 bitmap font for printable ASCII (other characters draw as ``?``),
rasterised from DejaVu Sans Mono (Bitstream Vera license; DejaVu changes are public domain).
Points are drawn in a fixed shuffled order, so no class is systematically hidden under another,
and identical inputs give identical pixels.

Example:
    >>> import numpy as np
    >>> xy = np.random.default_rng(0).normal(size=(100, 2))
    >>> image = scatter_image(xy, np.arange(100) % 3, ["a", "b", "c"], title="demo")
    >>> image.shape, image.dtype.name
    ((360, 480, 3), 'uint8')
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

GLYPH_HEIGHT, GLYPH_WIDTH = 12, 6
_GLYPH_HEX = (
    "000000000000000000000000000404040404040004000000000a0a0a00000000000000000005091f0a0a3f14140000000004"
    "0f14140e05051e040400001824190208170507000000000e1018181423331f0000000004040400000000000000000204040c"
    "08080c040402000008040404040404040c0800000004150e0e1504000000000000000004043f040400000000000000000000"
    "00040408000000000000000e000000000000000000000000000404000000000302020404080810100000000e1b111115111b"
    "0e000000001c0404040404041f000000001e130302040c181f000000000e13030e0301131e0000000006060a12123f020200"
    "0000001e10101e0301031e000000000e18101e1311130e000000001f02020204040c08000000000e13130e1311130e000000"
    "000e1311130f01021e000000000000040400000404000000000000040400000404080000000000010e300e01000000000000"
    "00003f003f0000000000000000300e030e3000000000001e03020404040004000000000e11112729292710180e00000c0c0a"
    "0a121f1131000000001e13131e1111111e000000000e1910101010190e000000001c1211111111121c000000001f10101f10"
    "10101f000000001f10101f10101010000000000e1910101311190e000000001111111f11111111000000001f040404040404"
    "1f000000000e0202020202021c000000001112141c1412131100000000101010101010101f00000000333b3b3d3531313100"
    "0000001119191515171313000000000e1311111111130e000000001e1111131e101010000000000e1311111111130e020000"
    "001e1313131e121111000000000e1010180601130e000000003f0404040404040400000000111111111111130e0000000031"
    "1113120a0a0c0c000000002121253d191b1b1300000000111a0a040c0a13310000000031130a0c04040404000000001f0102"
    "040408101f0000000e0c0c0c0c0c0c0c0c0e00000010100808040402020300000c04040404040404040c0000000c0a110000"
    "00000000000000000000000000000000003f0804000000000000000000000000001e031f11131f0000001010101e1b11111b"
    "1e0000000000000f181010180f0000000101010f131313130f0000000000000e111f10100f0000000704041f040404040400"
    "00000000000f131313130f021e001010101e1b111111110000000400001c040404041f0000000400001c0404040404041c00"
    "10101013161c1e12110000001c0c0c0c0c0c0c0c070000000000001f15151515150000000000001e1b111111110000000000"
    "000e131111130e0000000000001e1b11111b1e1010000000000f131111130f0101000000000f0c080808080000000000000e"
    "101c06031e0000000008081f0808080c0700000000000011111111130f0000000000001113120a0e0c000000000000212115"
    "1d1b1a000000000000130a0c0c1a1100000000000011110a0a0c040c18000000001f020408081f00000007040404180c0404"
    "0407000004040404040404040404040018040404070404040418000000000000001c070000000000"
)
_GLYPHS: np.ndarray | None = None

PALETTE = np.array(
    [
        (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
        (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
        (174, 199, 232), (255, 187, 120), (152, 223, 138), (255, 152, 150), (197, 176, 213),
        (196, 156, 148), (247, 182, 210), (199, 199, 199), (219, 219, 141), (158, 218, 229),
    ],
    dtype=np.uint8,
)
"""Category colours: Tableau 10, then its light variants (matplotlib's tab20 order); repeats after 20."""

BACKGROUND = (255, 255, 255)
INK = (40, 40, 40)
GRID = (232, 232, 232)
UNLABELLED = (31, 119, 180)
MAX_LEGEND_ENTRIES = 20


def glyphs() -> np.ndarray:
    """The font: bool ``[95, 12, 6]``, glyph ``i`` is ``chr(32 + i)``."""
    global _GLYPHS
    if _GLYPHS is None:
        rows = np.frombuffer(bytes.fromhex("".join(_GLYPH_HEX)), dtype=np.uint8)
        bits = (rows[:, None] >> np.arange(GLYPH_WIDTH - 1, -1, -1)) & 1
        _GLYPHS = bits.reshape(95, GLYPH_HEIGHT, GLYPH_WIDTH).astype(bool)
    return _GLYPHS


def text_mask(text: str) -> np.ndarray:
    """Bool ``[12, 6 * len(text)]``: the pixels of ``text`` in the built-in font."""
    codes = np.frombuffer(str(text).encode("ascii", "replace"), dtype=np.uint8).astype(np.int64)
    codes = np.where((codes >= 32) & (codes < 127), codes - 32, ord("?") - 32)
    return glyphs()[codes].transpose(1, 0, 2).reshape(GLYPH_HEIGHT, -1)


def draw_mask(canvas: np.ndarray, mask: np.ndarray, y: int, x: int, color) -> None:
    """Paints ``color`` where ``mask`` is set, with its top-left at ``(y, x)``; clipped to the canvas."""
    h, w = canvas.shape[:2]
    y0, x0 = max(y, 0), max(x, 0)
    y1, x1 = min(y + mask.shape[0], h), min(x + mask.shape[1], w)
    if y1 <= y0 or x1 <= x0:
        return
    region = canvas[y0:y1, x0:x1]
    region[mask[y0 - y : y1 - y, x0 - x : x1 - x]] = color


def draw_text(canvas: np.ndarray, text: str, y: int, x: int, color=INK, *, anchor: str = "left",
              vertical: bool = False) -> None:
    """Writes ``text`` at ``(y, x)``; ``anchor`` is ``"left"``, ``"center"`` or ``"right"`` of the run of text.

    ``vertical`` turns the text 90 degrees counter-clockwise (reading bottom to top), anchored on
    its vertical extent.
    """
    mask = text_mask(text)
    if vertical:
        mask = np.rot90(mask)
        length = mask.shape[0]
        offset = {"left": -length, "center": -length // 2, "right": 0}[anchor]
        draw_mask(canvas, mask, y + offset, x, color)
        return
    length = mask.shape[1]
    offset = {"left": 0, "center": -length // 2, "right": -length}[anchor]
    draw_mask(canvas, mask, y, x + offset, color)


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


_DISC = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3) if dy * dy + dx * dx <= 5]


def scatter_image(
    points: np.ndarray,
    labels: np.ndarray | None = None,
    names: Sequence[str] | None = None,
    *,
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    size: tuple[int, int] = (360, 480),
    seed: int = 0,
) -> np.ndarray:
    """Draws a 2-D scatter plot as an RGB image.

    Args:
        points: ``[m, 2]`` coordinates (x, y); non-finite points are left out.
        labels: int ``[m]`` category of each point (an index into ``names``), or None for one colour.
        names: legend text per category (``names[i]`` for label ``i``); at most 20 entries are
            listed, then ``+N more``.
        title, xlabel, ylabel: text above the plot and along its axes.
        size: ``(height, width)`` of the image in pixels, at least ``(120, 200)``.
        seed: the fixed drawing order of the points.

    Returns:
        uint8 ``[height, width, 3]``.
    """
    height, width = int(size[0]), int(size[1])
    if height < 120 or width < 200:
        raise ValueError(f"size must be at least (120, 200) pixels. Received: size={tuple(size)!r}")
    points = np.asarray(points, np.float64).reshape(-1, 2)
    canvas = np.empty((height, width, 3), np.uint8)
    canvas[:] = BACKGROUND
    show_legend = labels is not None and names is not None and len(names) > 0
    legend_w = 0
    if show_legend:
        shown = list(names)[:MAX_LEGEND_ENTRIES]
        longest = max(len(str(n)) for n in shown + ["+00 more"])
        legend_w = min(16 + GLYPH_WIDTH * longest + 8, width // 3)
    left, right = 14 + GLYPH_HEIGHT + 6 * GLYPH_WIDTH, width - 10 - legend_w
    top, bottom = 8 + (GLYPH_HEIGHT + 6 if title else 0), height - (2 * GLYPH_HEIGHT + 14)
    xlo, xhi = _limits(points[:, 0])
    ylo, yhi = _limits(points[:, 1])
    sx = (right - left) / (xhi - xlo)
    sy = (bottom - top) / (yhi - ylo)
    # grid and ticks
    for value in nice_ticks(xlo, xhi):
        px = int(round(left + (value - xlo) * sx))
        canvas[top:bottom, px] = GRID
        canvas[bottom : bottom + 4, px] = INK
        draw_text(canvas, format_tick(value), bottom + 5, px, anchor="center")
    for value in nice_ticks(ylo, yhi):
        py = int(round(bottom - (value - ylo) * sy))
        canvas[py, left:right] = GRID
        canvas[py, left - 4 : left] = INK
        draw_text(canvas, format_tick(value), py - GLYPH_HEIGHT // 2, left - 6, anchor="right")
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
    for dy, dx in _DISC:  # a loop over the 21 pixels of the dot, not over points
        yy, xx = py + dy, px + dx
        inside = (yy >= top) & (yy < bottom) & (xx > left) & (xx < right)
        canvas[yy[inside], xx[inside]] = colors[inside]
    # frame and labels
    canvas[top:bottom, left] = INK
    canvas[bottom, left:right] = INK
    if title:
        draw_text(canvas, title, 6, (left + right) // 2, anchor="center")
    if xlabel:
        draw_text(canvas, xlabel, height - GLYPH_HEIGHT - 3, (left + right) // 2, anchor="center")
    if ylabel:
        draw_text(canvas, ylabel, (top + bottom) // 2, 4, anchor="center", vertical=True)
    if show_legend:
        _legend(canvas, list(names), right + 10, top)
    return canvas


def _legend(canvas: np.ndarray, names: list, x: int, y: int) -> None:
    step = GLYPH_HEIGHT + 4
    for i, name in enumerate(names[:MAX_LEGEND_ENTRIES]):
        row = y + i * step
        canvas[row + 2 : row + 10, x : x + 8] = PALETTE[i % len(PALETTE)]
        draw_text(canvas, str(name), row, x + 12)
    if len(names) > MAX_LEGEND_ENTRIES:
        draw_text(canvas, f"+{len(names) - MAX_LEGEND_ENTRIES} more", y + MAX_LEGEND_ENTRIES * step, x + 12)
