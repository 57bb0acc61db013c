"""Activations -> uint8 images: choose channels, normalize, tile, colorize (numpy only).

``Renderer`` keeps the per-layer state that must not change between steps (the top-k channel
choice and the ``fixed`` range), so a tile position shows the same channel, on the same scale, at
every epoch.

Output shapes and how they are drawn (``n`` = samples):
    ``[n, h, w, c]`` (``channels_first``: ``[n, c, h, w]``): one tile per channel in a grid.
    ``[n, a, b, c]`` whose ``a`` or ``b`` is short (< 16) and at most a quarter of the other
        (``fmlogger.render.shapes.head_axis``: attention ``[n, tokens, heads, dim]`` or ``[n, heads,
        queries, keys]``, a 1-pixel-high map): one heatmap per index of the short axis (per
        head), the last axis down and the long axis across, as sequences are drawn.
    ``[n, t, c]`` (sequences): one heatmap per sample, channels down, time across.
    ``[n, units]`` (dense): one strip per sample, a cell per unit.
    anything else (5-D, scalars): ``UnsupportedOutput`` with a message saying why it is skipped.

Example:
    >>> import numpy as np
    >>> renderer = Renderer(RenderSettings(max_channels=4, min_tile_size=8))
    >>> frame = renderer.render("conv1", np.random.rand(2, 8, 8, 6).astype("float32"))
    >>> frame.images.shape, frame.channels
    ((2, 19, 19, 1), (0, 1, 2, 3))
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from fmlogger._arrays import spread
from fmlogger._checks import check_at_most, check_choice, check_int
from fmlogger.render import colormaps, resize, tiling
from fmlogger.render.normalize import _AXES, NORMALIZE_MODES, normalize, to_uint8, value_range
from fmlogger.render.shapes import UnsupportedOutput as UnsupportedOutput  # render raises it
from fmlogger.render.shapes import to_maps
from fmlogger.render.stats import activation_stats

CHANNEL_ORDERS = ("index", "top_k", "spread")
DATA_FORMATS = ("channels_last", "channels_first")
NONFINITE_CODE = 256
log = logging.getLogger("fmlogger")
MAX_MIN_TILE_SIZE = 512  # 64 tiles of 512 px: a 4k x 4k grid, 50 MB per sample in colour
MAX_PADDING = 64  # wider gaps only dilute the tiles; unbounded ones allocate without limit


@dataclasses.dataclass(frozen=True)
class RenderSettings:
    """How activations become images. Every field is validated on construction.

    Args:
        normalize: ``"per_map"``, ``"per_layer"``, ``"symmetric"`` or ``"fixed"`` (see
            ``fmlogger.render.normalize``).
        clip_percentile: clip this percentile at both ends before scaling (e.g. 1.0 -> 1st..99th),
            or None.
        colormap: ``"gray"`` (1-channel PNG), ``"viridis"``, ``"magma"`` or ``"coolwarm"``.
        max_channels: at most this many channels per layer, or None for all.
        channel_order: ``"index"`` (the first ``max_channels``; for a channel concatenation, the
            last ones: a DenseNet block's own new channels, not a copy of its input),
            ``"top_k"`` (highest mean activation on the probe at the first logged step, then kept)
            or ``"spread"`` (``max_channels`` evenly spaced from the first channel to the last: of a
            concatenation, some of every input, in proportion to its channels).
        cols: grid columns, or None for a near-square grid.
        min_tile_size: small maps are upscaled (nearest neighbour, integer factor) to at least
            this many pixels on their longer side; at most ``MAX_MIN_TILE_SIZE`` (512).
        padding: pixels between tiles and around the grid (``colormaps.pad_color``: mid-gray
            under gray, apart from both ends of every map); at most ``MAX_PADDING`` (64).
        data_format: layout of 3-D/4-D outputs given as arrays; model layers report their own.
        max_tile_size: larger maps are averaged over integer blocks until their longer side is at
            most this (at 64: 128x128 -> 64x64, 224x224 -> 56x56), or None to keep every pixel.
            With ``max_channels=64`` a grid is then at most 8 x 65 + 1 = 521 px on a side, about
            the width TensorBoard fits an image card to unless "actual image size" is on.
    """

    normalize: str = "per_map"
    clip_percentile: float | None = None
    colormap: str = "gray"
    max_channels: int | None = 64
    channel_order: str = "index"
    cols: int | None = None
    min_tile_size: int = 32
    padding: int = 1
    data_format: str = "channels_last"
    max_tile_size: int | None = 64

    def __post_init__(self):
        check_choice("normalize", self.normalize, NORMALIZE_MODES)
        check_choice("colormap", self.colormap, colormaps.COLORMAPS)
        check_choice("channel_order", self.channel_order, CHANNEL_ORDERS)
        check_choice("data_format", self.data_format, DATA_FORMATS)
        check_int("max_channels", self.max_channels, 1, allow_none=True)
        check_int("cols", self.cols, 1, allow_none=True)
        check_int("min_tile_size", self.min_tile_size, 1)
        check_int("padding", self.padding, 0)
        check_int("max_tile_size", self.max_tile_size, 1, allow_none=True)
        why = "a grid of 64 tiles would need gigabytes per step"
        check_at_most("min_tile_size", self.min_tile_size, MAX_MIN_TILE_SIZE, why)
        check_at_most("padding", self.padding, MAX_PADDING, why)
        clip = self.clip_percentile
        number = isinstance(clip, (int, float, np.integer, np.floating)) and not isinstance(clip, bool)
        if clip is not None and not (number and 0 <= clip < 50):
            raise ValueError(
                "clip_percentile must be a number in [0, 50) or None. "
                f"Received: clip_percentile={self.clip_percentile!r}"
            )

    def describe(self) -> str:
        """One line naming the settings that change how pixels look."""
        clip = f", clip_percentile={self.clip_percentile}" if self.clip_percentile else ""
        return f"normalize={self.normalize}{clip}, colormap={self.colormap}"


@dataclasses.dataclass(frozen=True)
class Frame:
    """One rendered layer at one step.

    Attributes:
        images: uint8 ``[n, H, W, 1]`` (gray) or ``[n, H, W, 3]``.
        stats: ``{"mean", "std", "zero_fraction", "nonfinite"}`` over the whole output.
        channels: the channel (or head) indices shown, in tile order (empty for strips and heatmaps).
        kind: ``"grid"``, ``"heads"``, ``"heatmap"`` or ``"strip"``.
        description: a line for TensorBoard's image card.
    """

    images: np.ndarray
    stats: dict
    channels: tuple
    kind: str
    description: str

    def _repr_png_(self) -> bytes:
        """PNG bytes of every sample's image, stacked top to bottom: Jupyter shows a Frame as that.

        Samples are separated by ``STACK_GAP`` rows of mid-grey (the gap of ``fmlogger compare``).
        """
        from fmlogger.render.png import encode_png

        return encode_png(stack_rows(list(self.images)), level=6)


STACK_GAP = 4
STACK_GAP_VALUE = 128


def stack_rows(images, *, gap: int = STACK_GAP, value: int = STACK_GAP_VALUE) -> np.ndarray:
    """Stacks uint8 images ``[h, w, c]`` top to bottom with ``gap`` rows of ``value`` between them.

    Narrower images are padded on the right with ``value``; gray ones become RGB when any image
    is RGB.

    Example:
        >>> stack_rows([np.zeros((2, 3, 1), np.uint8), np.zeros((1, 2, 3), np.uint8)]).shape
        (7, 3, 3)
    """
    channels = max(image.shape[-1] for image in images)
    width = max(image.shape[1] for image in images)
    parts = []
    for i, image in enumerate(images):
        if image.shape[-1] != channels:
            image = np.repeat(image[..., :1], channels, axis=-1)
        row = np.full((image.shape[0], width, channels), value, np.uint8)
        row[:, : image.shape[1]] = image
        parts.append(row)
        if i < len(images) - 1:
            parts.append(np.full((gap, width, channels), value, np.uint8))
    return np.concatenate(parts, axis=0)


def quantize(unit: np.ndarray) -> np.ndarray:
    """[0, 1] floats -> uint16 codes 0..255 (``round(v * 255)``, halves up); NaN -> NONFINITE_CODE."""
    codes = to_uint8(unit).astype(np.uint16)
    codes[np.isnan(unit)] = NONFINITE_CODE
    return codes


def quantized(
    maps: np.ndarray,
    mode: str,
    *,
    clip_percentile: float | None = None,
    fixed_range: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """``quantize(normalize(maps, ...))`` as uint8 codes, plus the mask of non-finite inputs.

    Same pixel values as the two-step form (the same float32 operations in the same order),
    done in place with about a third of the passes over memory when every value is finite.

    Returns:
        ``(codes, mask)``: uint8 ``[n, k, h, w]`` in 0..255, and a bool mask of NaN/Inf inputs
        (their codes are 0), or None when there are none.
    """
    x = np.asarray(maps, dtype=np.float32)
    if clip_percentile or mode not in ("per_map", "per_layer", "fixed"):
        codes = quantize(normalize(x, mode, clip_percentile=clip_percentile, fixed_range=fixed_range))
        mask = codes == NONFINITE_CODE
        return np.where(mask, 0, codes).astype(np.uint8), (mask if mask.any() else None)
    if mode == "fixed":
        if fixed_range is None:
            raise ValueError("normalize='fixed' needs fixed_range=(low, high).")
        lo, hi = (np.float32(v) for v in fixed_range)
        finite = bool(np.isfinite(x).all())
    else:
        lo = x.min(axis=_AXES[mode], keepdims=True)  # NaN and +-Inf show up in min or max
        hi = x.max(axis=_AXES[mode], keepdims=True)
        finite = bool(np.isfinite(lo).all() and np.isfinite(hi).all())
    if not finite:
        codes = quantize(normalize(x, mode, fixed_range=fixed_range))
        mask = codes == NONFINITE_CODE
        return np.where(mask, 0, codes).astype(np.uint8), mask
    span = hi - lo
    out = np.subtract(x, lo, dtype=np.float32)
    if mode == "fixed":
        if span > 0:
            out /= span
        else:
            out[...] = 0
        np.clip(out, 0, 1, out=out)
    else:  # lo <= x <= hi, so (x - lo) / span is already in [0, 1]; constant maps give x - lo == 0
        out /= np.where(span > 0, span, np.float32(1))
    out *= 255
    out += 0.5
    return out.astype(np.uint8), None  # out is in [0.5, 255.5]: the cast's truncation is the floor


def colorize_codes(
    codes: np.ndarray, mask: np.ndarray | None, colormap: str
) -> tuple[np.ndarray, np.ndarray]:
    """uint8 codes (+ non-finite mask) -> pixels and the padding colour.

    Returns ``(pixels, pad)``: ``gray`` without non-finite values stays one channel
    (``pixels`` is ``codes`` itself, shape unchanged); otherwise RGB ``[..., 3]``.
    """
    if colormap == "gray" and mask is None:
        return codes, np.uint8(colormaps.pad_color("gray")[0])
    table = np.ascontiguousarray(colormaps.lookup_table(colormap)).view(np.dtype((np.void, 3)))[:, 0]
    pixels = np.take(table, codes)  # one 3-byte item per pixel: ~5x faster than table[codes]
    pixels = pixels.view(np.uint8).reshape(codes.shape + (3,))
    if mask is not None:
        pixels[mask] = colormaps.nonfinite_color(colormap)
    return pixels, np.asarray(colormaps.pad_color(colormap), dtype=np.uint8)


class Renderer:
    """Renders layers step after step, keeping each layer's channel choice and fixed range."""

    def __init__(self, settings: RenderSettings | None = None):
        self.settings = settings or RenderSettings()
        self._channels: dict[str, np.ndarray] = {}
        self._fixed_range: dict[str, tuple[float, float]] = {}
        self._restored: set[str] = set()  # layers whose channel choice came from a saved state
        self.newest_last: set[str] = set()  # concatenations: "index" shows their last channels

    def channels_for(self, name: str, maps: np.ndarray) -> np.ndarray:
        """The channel indices to show for layer ``name``, chosen once and then kept."""
        if name not in self._channels or int(np.max(self._channels[name], initial=-1)) >= maps.shape[1]:
            k = maps.shape[1]
            if name in self._restored:  # a saved choice naming a channel the layer lacks
                self._restored.discard(name)
                log.warning("fmlogger: saved channels of layer %r exceed its %d; chosen afresh.", name, k)
            limit = min(k, self.settings.max_channels or k)
            if self.settings.channel_order == "top_k":
                with np.errstate(all="ignore"):
                    finite = np.where(np.isfinite(maps), maps, 0).astype(np.float64)
                    score = finite.mean(axis=(0, 2, 3))
                chosen = np.argsort(-score, kind="stable")[:limit]
            elif self.settings.channel_order == "spread":
                chosen = np.asarray(spread(k, limit), dtype=np.int64)
            else:
                chosen = np.arange(k - limit, k) if name in self.newest_last else np.arange(limit)
            self._channels[name] = chosen
        return self._channels[name]

    def fixed_range_for(self, name: str, maps: np.ndarray) -> tuple[float, float]:
        """The ``fixed`` range of layer ``name``, computed over the whole probe on first use."""
        if name not in self._fixed_range:
            lo, hi = value_range(maps, (0, 1, 2, 3), self.settings.clip_percentile)
            self._fixed_range[name] = (float(lo.item()), float(hi.item()))
        return self._fixed_range[name]

    def state(self) -> dict:
        """The kept per-layer choices, JSON-ready.

        ``{layer: {"channels": [...], "fixed_range": [lo, hi]}}``.
        """
        out: dict = {}
        for name, chosen in self._channels.items():
            out.setdefault(name, {})["channels"] = [int(c) for c in chosen]
        for name, (lo, hi) in self._fixed_range.items():
            out.setdefault(name, {})["fixed_range"] = [float(lo), float(hi)]
        return out

    def restore(self, state: dict, *, channels: bool = True, fixed_range: bool = True) -> None:
        """Takes back choices saved by ``state()`` (e.g. from a previous run in the same folder).

        A saved channel choice naming a channel the layer lacks is warned about and chosen afresh.
        """
        for name, entry in state.items():
            if channels and entry.get("channels") is not None:
                self._channels[name] = np.asarray(entry["channels"], dtype=np.int64)
                self._restored.add(name)
            if fixed_range and entry.get("fixed_range") is not None:
                lo, hi = entry["fixed_range"]
                self._fixed_range[name] = (float(lo), float(hi))

    def render(self, name: str, activations: np.ndarray, data_format: str | None = None) -> Frame:
        """Renders one layer's output (first axis = samples) into a ``Frame``."""
        s = self.settings
        activations = np.asarray(activations)
        if not np.issubdtype(activations.dtype, np.number) or activations.dtype == np.bool_:
            activations = activations.astype(np.float32)
        maps, kind = to_maps(activations, data_format or s.data_format)
        stats = activation_stats(activations)
        total = maps.shape[1]
        if kind in ("grid", "heads"):
            chosen = self.channels_for(name, maps)
            if len(chosen) and np.array_equal(chosen, np.arange(chosen[0], chosen[0] + len(chosen))):
                maps = maps[:, chosen[0] : chosen[0] + len(chosen)]  # a view, no copy
            else:
                maps = maps[:, chosen]
            if kind == "heads":  # heatmaps, as sequences: a column per token, each side upscaled
                shrink, scale = 1, resize.axis_scale(maps.shape[2], maps.shape[3], s.min_tile_size)
            else:
                shrink = resize.downscale_factor(maps.shape[2], maps.shape[3], s.max_tile_size)
                if shrink > 1:
                    maps = resize.block_mean(maps, shrink)
                scale = (resize.upscale_factor(maps.shape[2], maps.shape[3], s.min_tile_size),) * 2
        else:
            shrink = 1
            chosen = np.arange(0)
            scale = resize.axis_scale(maps.shape[2], maps.shape[3], s.min_tile_size)
        fixed = self.fixed_range_for(name, maps) if s.normalize == "fixed" else None
        # Colours are looked up on the small maps, then tiled and upscaled in one copy.
        codes, mask = quantized(maps, s.normalize, clip_percentile=s.clip_percentile, fixed_range=fixed)
        pixels, pad = colorize_codes(codes, mask, s.colormap)
        images = tiling.tile(pixels, scale=scale, cols=s.cols, padding=s.padding, pad_code=pad)
        images = images[..., None] if images.ndim == 3 else images
        return Frame(
            images=images,
            stats=stats,
            channels=tuple(int(c) for c in chosen),
            kind=kind,
            description=_describe(name, activations.shape, kind, chosen, total, s)
            + (
                f" Maps averaged over {shrink}x{shrink} blocks (max_tile_size={s.max_tile_size})."
                if shrink > 1
                else ""
            ),
        )


def _describe(name, shape, kind, chosen, total, settings: RenderSettings) -> str:
    if kind == "grid":
        order = {
            "top_k": "by mean activation at the first logged step",
            "spread": "evenly spread over the channels",
        }.get(settings.channel_order, "by index")
        what = f"{len(chosen)} of {total} channels, {order}, row by row"
        if len(chosen) <= 16:
            what += f": {', '.join(str(int(c)) for c in chosen)}"
    elif kind == "heads":
        what = (
            f"{len(chosen)} of {total} heads (the short axis), row by row, each a heatmap: "
            "the channel axis down, the long axis across"
        )
    elif kind == "heatmap":
        what = "heatmap: channels down, time across"
    else:
        what = "strip: one cell per unit"
    return f"{name} {tuple(shape[1:])}; {what}; {settings.describe()}."
