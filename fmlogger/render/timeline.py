"""Timeline images: one row per logged step, so the newest step holds the whole history.

TensorBoard keeps only 10 steps per image tag unless told otherwise, but it always keeps the
newest. A timeline image is rewritten at every logged step under ``feature_map_timeline/<layer>``:
its rows are the logged steps in order (oldest at the top), its columns the layer's shown channels
(the fixed or top-k choice of ``Renderer``) for the first probe sample, and each row starts with
its step number drawn in the 3x5 digit font of ``fmlogger.render.font`` (numpy only).

Memory is bounded: a ``Timeline`` keeps at most ``max_rows`` rows. Past the cap it keeps every
``stride``-th logged step (``stride`` doubles each time the cap is reached) plus the newest, so the
rows are an even subsample that always includes the first and the newest step.

Layout (``p`` = padding, ``s`` = glyph scale, ``d`` = digits of the longest step label)::

    width  = label + p + columns * (tile_w + p),   label = s + d * 4 * s
    height = p + rows * (row_h + p),               row_h = max(tile_h, 5 * s)

Example:
    >>> import numpy as np
    >>> t = Timeline(max_rows=4)
    >>> for step in range(6):
    ...     t.add(step, np.full((2, 8, 8, 1), step * 40, np.uint8))
    >>> t.steps, t.stride
    ([0, 2, 4, 5], 2)
    >>> steps, tiles = decode(t.image(), tile_shape=(8, 8), columns=2)
    >>> steps, tiles.shape
    ([0, 2, 4, 5], (4, 2, 8, 8, 1))
"""

from __future__ import annotations

import numpy as np

from fmlogger.render import colormaps, tiling
from fmlogger.render.font import GLYPHS, number_bitmaps, read_numbers  # noqa: F401 (GLYPHS re-exported)


def glyph_scale(tile_height: int) -> int:
    """Integer scale of the 3x5 font for tiles of this height: 1..3 (3 for tiles of 24 px or more)."""
    return int(min(3, max(1, tile_height // 8)))


def untile(image: np.ndarray, n_tiles: int, *, cols: int | None = None, padding: int = 1) -> np.ndarray:
    """Cuts a grid image made by ``fmlogger.render.tiling.tile`` back into its tiles ``[n_tiles, th, tw, c]``.

    Args:
        image: one grid ``[H, W]`` or ``[H, W, c]``.
        n_tiles: how many tiles the grid holds (``cols`` as given to ``tile``).
    """
    if image.ndim == 2:
        image = image[:, :, None]
    rows, cols = tiling.grid_shape(n_tiles, cols)
    height, width, channels = image.shape
    th, tw = (height - padding) // rows - padding, (width - padding) // cols - padding
    blocks = image[: rows * (th + padding), : cols * (tw + padding)]
    blocks = blocks.reshape(rows, th + padding, cols, tw + padding, channels)[:, padding:, :, padding:]
    return blocks.transpose(0, 2, 1, 3, 4).reshape(rows * cols, th, tw, channels)[:n_tiles]


def frame_tiles(frame, *, cols: int | None, padding: int, max_channels: int | None = None) -> np.ndarray:
    """The first sample's tiles of a rendered ``Frame``: ``[k, th, tw, c]`` (one tile for strips/heatmaps)."""
    tiled = frame.kind in ("grid", "heads")
    n_tiles = len(frame.channels) if tiled else 1
    tiles = untile(frame.images[0], n_tiles, cols=cols if tiled else None, padding=padding)
    return tiles[:max_channels] if max_channels else tiles


def compose(
    steps, tiles: np.ndarray, *, padding: int = 1, colormap: str = "gray", digits: int | None = None
) -> np.ndarray:
    """Draws the timeline image ``[H, W, c]`` from row steps and tiles ``[rows, columns, th, tw, c]``.

    Background and padding take the colormap's pad colour; step labels are drawn in black on a
    light pad colour, white on a dark one. The label column fits the longest step, or ``digits``
    digits if more.
    """
    rows, columns, th, tw, channels = tiles.shape
    pad_rgb = np.array(colormaps.pad_color(colormap), dtype=np.uint8)
    ink_rgb = np.full(3, 0 if pad_rgb.mean() > 127 else 255, dtype=np.uint8)
    pad_px, ink_px = (pad_rgb[:1], ink_rgb[:1]) if channels == 1 else (pad_rgb, ink_rgb)
    scale = glyph_scale(th)
    row_h = max(th, 5 * scale)
    blocks = np.empty((rows, padding + row_h, columns, padding + tw, channels), dtype=np.uint8)
    blocks[...] = pad_px
    blocks[:, padding : padding + th, :, padding:] = tiles.transpose(0, 2, 1, 3, 4)
    grid = blocks.reshape(rows * (padding + row_h), columns * (padding + tw), channels)
    grid = np.concatenate([grid, np.broadcast_to(pad_px, (grid.shape[0], padding, channels))], axis=1)
    labels = number_bitmaps(steps, scale, digits)
    label_w = scale + labels.shape[2]
    ink = np.zeros((rows, padding + row_h, label_w), dtype=bool)
    top = padding + (row_h - 5 * scale) // 2
    ink[:, top : top + 5 * scale, scale:] = labels
    ink = ink.reshape(rows * (padding + row_h), label_w)
    strip = np.where(ink[:, :, None], ink_px, pad_px).astype(np.uint8)
    image = np.concatenate([strip, grid], axis=1)
    bottom = np.broadcast_to(pad_px, (padding, image.shape[1], channels))
    return np.concatenate([image, bottom], axis=0)


def decode(image: np.ndarray, *, tile_shape: tuple[int, int], columns: int, padding: int = 1):
    """Reads a timeline image back: ``(steps, tiles [rows, columns, th, tw, c])``.

    Args:
        image: the timeline ``[H, W, c]`` (as decoded from its PNG).
        tile_shape: ``(th, tw)`` of one tile, as in the layer's feature-map image.
        columns: the number of channel columns.
        padding: the render padding.
    """
    if image.ndim == 2:
        image = image[:, :, None]
    th, tw = tile_shape
    scale = glyph_scale(th)
    row_h = max(th, 5 * scale)
    height, width, channels = image.shape
    rows = (height - padding) // (padding + row_h)
    label_w = width - padding - columns * (padding + tw)
    body = image[: rows * (padding + row_h)]
    blocks = body[:, label_w : label_w + columns * (padding + tw)]
    blocks = blocks.reshape(rows, padding + row_h, columns, padding + tw, channels)
    tiles = blocks[:, padding : padding + th, :, padding:].transpose(0, 2, 1, 3, 4)
    background = image[0, 0]
    ink = (body[:, :label_w] != background).any(axis=-1).reshape(rows, padding + row_h, label_w)
    top = padding + (row_h - 5 * scale) // 2
    digits = (label_w - scale) // (4 * scale)
    labels = ink[:, top : top + 5 * scale : scale, scale : scale + digits * 4 * scale : scale]
    return read_numbers(labels), np.ascontiguousarray(tiles)


class Timeline:
    """The bounded history of one layer: rows of tiles, one per kept step.

    Args:
        max_rows: at most this many rows (>= 2); past it, every ``stride``-th logged step and the
            newest are kept.
    """

    def __init__(self, max_rows: int = 32):
        if isinstance(max_rows, bool) or not isinstance(max_rows, (int, np.integer)) or max_rows < 2:
            raise ValueError(
                f"timeline_max_rows must be an integer >= 2. Received: timeline_max_rows={max_rows!r}"
            )
        self.max_rows = int(max_rows)
        self.stride = 1
        self.count = 0
        self._rows: dict[int, tuple[int, np.ndarray]] = {}
        self._drawn: tuple | None = None  # (kept indices, how it was drawn, image) of the last image

    @property
    def steps(self) -> list[int]:
        """The steps of the kept rows, oldest first."""
        return [self._rows[i][0] for i in sorted(self._rows)]

    def add(self, step: int, tiles: np.ndarray) -> None:
        """Appends the row of ``step`` (tiles ``[columns, th, tw, c]``).

        A step at or before an already kept one (a re-logged or restarted run) drops the rows from
        that step on; tiles of another shape start the history afresh.
        """
        step = int(step)
        tiles = np.array(tiles, dtype=np.uint8, copy=True)
        kept = {i: row for i, row in self._rows.items() if row[0] < step}
        if any(row[1].shape[:3] != tiles.shape[:3] for row in kept.values()):
            kept, self.count, self.stride = {}, 0, 1
        index = self.count
        self.count += 1
        kept = {i: row for i, row in kept.items() if i % self.stride == 0}
        kept[index] = (step, tiles)
        while len(kept) > self.max_rows:
            self.stride *= 2
            kept = {i: row for i, row in kept.items() if i % self.stride == 0 or i == index}
        self._rows = kept

    def image(self, *, padding: int = 1, colormap: str = "gray") -> np.ndarray:
        """The timeline ``[H, W, c]`` (c = 3 if any row is RGB, else 1).

        When the rows but the newest are the top rows of the previous image, drawn the same way
        (same padding, colormap, channels and label digits), only the newest row is drawn, below them.
        """
        order = sorted(self._rows)
        rows = [self._rows[i] for i in order]
        channels = max(r[1].shape[-1] for r in rows)
        how = (padding, colormap, channels, max(len(str(r[0])) for r in rows))
        previous = None
        if self._drawn is not None and self._drawn[1] == how and len(order) > 1:
            drawn, _, last = self._drawn
            if drawn[: len(order) - 1] == order[:-1] and order[-1] not in drawn:
                # Its rows but the newest are the top of the last image (past max_rows the last
                # image's newest row may be dropped): keep those, draw the newest below them.
                block = (len(last) - padding) // len(drawn)  # one row with the padding above it
                rows, previous = rows[-1:], last[: (len(order) - 1) * block]
        tiles = np.stack([np.broadcast_to(r[1], r[1].shape[:3] + (channels,)) for r in rows])
        image = compose([r[0] for r in rows], tiles, padding=padding, colormap=colormap, digits=how[3])
        if previous is not None:
            image = np.concatenate([previous, image])
        image.flags.writeable = False  # kept for the next image
        self._drawn = (order, how, image)
        return image

    def describe(self, layer: str, channels) -> str:
        """A line for TensorBoard's image card (TensorBoard shows the first one written, so it
        states the rules, not the current counts)."""
        shown = list(channels)
        what = f"{len(shown)} channel(s) across" if shown else "the whole map across"
        if shown and len(shown) <= 16:
            what += ": " + ", ".join(str(int(c)) for c in shown)
        return (
            f"{layer}, probe sample 0: one row per logged step, step number at left, oldest on top; "
            f"{what}. Up to {self.max_rows} rows; past that, every 2nd, 4th, ... logged step and "
            "the newest. The newest step's image holds the whole history."
        )
