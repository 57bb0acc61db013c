"""Heatmaps drawn over the input image, and image batches tiled into one grid (numpy only).

``overlay`` turns a batch of input images ``[n, H, W, C]`` and heatmaps ``[n, h, w]`` (saliency,
Grad-CAM) into uint8 RGB images ``[n, H', W', 3]``: the image in grey (or its own colours), the
heatmap resized to the image (bilinear), scaled per sample to [0, 1], coloured with one of the
package colormaps and blended with a weight that grows with the evidence, ``alpha * heat``: where
the heatmap is zero the input shows unchanged (full contrast), and even the strongest evidence
leaves ``1 - alpha`` of the input visible. Small inputs are upscaled (nearest neighbour, integer
factor) so they are visible in TensorBoard.

Example:
    >>> import numpy as np
    >>> images = np.zeros((2, 8, 8, 1), np.float32)
    >>> heat = np.zeros((2, 4, 4), np.float32); heat[:, 0, 0] = 1
    >>> overlay(images, heat, alpha=0.5, min_size=16).shape
    (2, 16, 16, 3)
"""

from __future__ import annotations

import numpy as np

from fmlogger._checks import check_choice
from fmlogger.render import colormaps, tiling
from fmlogger.render.normalize import to_uint8
from fmlogger.render.resize import resize_bilinear, upscale, upscale_factor

REDUCTIONS = ("max_abs", "abs_sum", "sum_abs", "positive_sum")
"""How attributions ``[n, H, W, C]`` become one map per sample: ``max_abs`` = max over channels of
``|a|`` (vanilla gradients, SmoothGrad); ``abs_sum`` = ``|sum over channels|`` (Integrated
Gradients: signed contributions of one pixel add up); ``sum_abs`` = sum of ``|a|``;
``positive_sum`` = ``max(sum, 0)`` (evidence for the target only)."""


def attribution_map(
    attributions: np.ndarray, reduce: str = "max_abs", *, channel_axis: int = -1
) -> np.ndarray:
    """Reduces attributions ``[n, H, W, C]`` (or ``[n, H, W]``) over channels to ``[n, H, W]``.

    Args:
        attributions: float array; ``channel_axis`` holds the input channels.
        reduce: one of ``REDUCTIONS``.
        channel_axis: the channel axis (``1`` for channels-first inputs).

    Returns:
        float32 ``[n, H, W]``, non-negative.
    """
    check_choice("reduce", reduce, REDUCTIONS)
    a = np.asarray(attributions, dtype=np.float32)
    if a.ndim == 3:
        a = a[..., None]
        channel_axis = -1
    if reduce == "max_abs":
        return np.abs(a).max(axis=channel_axis)
    if reduce == "sum_abs":
        return np.abs(a).sum(axis=channel_axis)
    total = a.sum(axis=channel_axis)
    return np.abs(total) if reduce == "abs_sum" else np.maximum(total, 0)


def unit_scale(
    maps: np.ndarray, *, clip_percentile: float | None = 0.5, symmetric: bool = False
) -> np.ndarray:
    """Scales each map of ``[n, h, w]`` to [0, 1] on its own; NaN where the input was not finite.

    Non-negative maps (the usual heatmap) scale ``0 .. hi``, so zero evidence stays at the bottom
    of the colormap; maps with negative values scale ``lo .. hi`` (``symmetric``: ``-m .. m``
    with ``m = max|x|``, zero at mid-scale). ``hi`` is the ``100 - clip_percentile`` percentile
    (saliency is heavy-tailed: a few pixels would otherwise wash out the rest); an all-zero map
    gives 0 (no division by zero).
    """
    x = np.asarray(maps, dtype=np.float32)
    finite = np.isfinite(x)
    clean = np.where(finite, x, np.float32(np.nan))
    q = 100.0 - (clip_percentile or 0.0)
    with np.errstate(all="ignore"):
        if symmetric:
            m = np.nanpercentile(np.abs(clean), q, axis=(1, 2), keepdims=True)
            lo, hi = -m, m
        else:
            hi = np.nanpercentile(clean, q, axis=(1, 2), keepdims=True)
            lo = np.minimum(np.nanmin(clean, axis=(1, 2), keepdims=True), 0)
        lo, hi = np.nan_to_num(lo), np.nan_to_num(hi)
        span = hi - lo
        out = np.where(span > 0, (clean - lo) / np.where(span > 0, span, 1), 0).astype(np.float32)
    out = np.where(finite, np.clip(out, 0, 1), np.float32(np.nan))
    return out


def image_to_rgb(
    images: np.ndarray, *, channel_axis: int = -1, value_range: tuple[float, float] | None = None
) -> np.ndarray:
    """Input images ``[n, H, W, C]`` -> float32 RGB ``[n, H, W, 3]`` in [0, 1].

    Each sample is min-max scaled on its own unless ``value_range=(lo, hi)`` is given. One
    channel becomes grey; three are shown as RGB; any other count is averaged to grey.
    """
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 3:
        x = x[..., None]
    elif channel_axis not in (-1, x.ndim - 1):
        x = np.moveaxis(x, channel_axis, -1)
    x = np.where(np.isfinite(x), x, 0)
    if value_range is None:
        lo = x.min(axis=(1, 2, 3), keepdims=True)
        hi = x.max(axis=(1, 2, 3), keepdims=True)
    else:
        lo, hi = (np.float32(v) for v in value_range)
    span = hi - lo
    unit = np.clip(np.where(span > 0, (x - lo) / np.where(span > 0, span, 1), 0), 0, 1)
    if unit.shape[-1] == 3:
        return unit.astype(np.float32)
    gray = unit.mean(axis=-1, keepdims=True) if unit.shape[-1] != 1 else unit
    return np.repeat(gray, 3, axis=-1).astype(np.float32)


def overlay(
    images: np.ndarray,
    heatmaps: np.ndarray,
    *,
    alpha: float = 0.5,
    colormap: str = "viridis",
    clip_percentile: float | None = 0.5,
    min_size: int = 128,
    channel_axis: int = -1,
    value_range: tuple[float, float] | None = None,
) -> np.ndarray:
    """Blends coloured heatmaps over input images, one output image per sample.

    Args:
        images: the inputs, ``[n, H, W, C]`` (``channel_axis`` says where C is) or ``[n, H, W]``;
            any float range (scaled per sample unless ``value_range``).
        heatmaps: ``[n, h, w]``, resized bilinearly to ``H x W``; scaled per sample with
            ``unit_scale``. NaN/Inf pixels get the colormap's marker colour.
        alpha: heatmap weight at the strongest evidence, in [0, 1]: 0 shows only the image; 1
            shows the colormap's top colour alone where the heatmap peaks. A pixel of scaled
            heat ``u`` gets weight ``alpha * u``, so zero evidence leaves the input as it is.
        colormap: one of ``fmlogger.render.colormaps.COLORMAPS``.
        clip_percentile: the heatmap's top end is its ``100 - clip_percentile`` percentile.
        min_size: upscale (nearest neighbour, integer factor) until the longer side is at
            least this many pixels.
        channel_axis: channel axis of ``images``.
        value_range: the images' display range, or None for per-sample min-max.

    Returns:
        uint8 ``[n, H * f, W * f, 3]`` with ``f = upscale_factor(H, W, min_size)``; each pixel is
        ``round((1 - w) * image + w * colour(u))`` with ``w = alpha * u`` (``w = alpha`` where the
        heat is NaN/Inf, drawn in the marker colour).

    Raises:
        ValueError: for a bad ``alpha``/``colormap`` or a batch-size mismatch.
    """
    check_choice("colormap", colormap, colormaps.COLORMAPS)
    if not 0 <= float(alpha) <= 1:
        raise ValueError(f"alpha must be a number in [0, 1]. Received: alpha={alpha!r}")
    rgb = image_to_rgb(images, channel_axis=channel_axis, value_range=value_range)
    heat = np.asarray(heatmaps, dtype=np.float32)
    if heat.ndim == 4 and heat.shape[-1] == 1:
        heat = heat[..., 0]
    if heat.ndim != 3 or heat.shape[0] != rgb.shape[0]:
        raise ValueError(
            f"heatmaps must be [n, h, w] with n = {rgb.shape[0]} images. Received shape {heat.shape}"
        )
    height, width = rgb.shape[1:3]
    heat = np.where(np.isfinite(heat), heat, np.float32(np.nan))
    unit = unit_scale(resize_bilinear(heat, (height, width)), clip_percentile=clip_percentile)
    nan = np.isnan(unit)
    codes = to_uint8(unit)
    colour = colormaps.lookup_table(colormap)[codes].astype(np.float32) / 255.0
    weight = np.float32(alpha) * np.where(nan, np.float32(1), unit)[..., None]
    if nan.any():
        colour[nan] = np.asarray(colormaps.nonfinite_color(colormap), np.float32) / 255.0
    blended = (1.0 - weight) * rgb + weight * colour
    return upscale(to_uint8(blended), upscale_factor(height, width, min_size))


def tile_images(
    images: np.ndarray,
    *,
    cols: int | None = None,
    padding: int = 1,
    min_tile_size: int = 32,
    channel_axis: int = -1,
    value_range: tuple[float, float] | None = None,
) -> np.ndarray:
    """Tiles a batch of images ``[k, H, W, C]`` into one grid image ``[H', W', c]`` (uint8).

    Each image is scaled on its own (or to ``value_range``); C = 1 gives a grey grid, C = 3 an
    RGB grid, other counts are averaged to grey. Padding is white.
    """
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 3:
        x = x[..., None]
    elif channel_axis not in (-1, x.ndim - 1):
        x = np.moveaxis(x, channel_axis, -1)
    rgb = image_to_rgb(x, value_range=value_range)
    if x.shape[-1] != 3:
        rgb = rgb[..., :1]
    codes = to_uint8(rgb)
    scale = (upscale_factor(*codes.shape[1:3], min_tile_size),) * 2
    # Colour channels become the batch axis of ``tile``: one reshape, no loop over images.
    grid = tiling.tile(codes.transpose(3, 0, 1, 2), scale=scale, cols=cols, padding=padding, pad_code=255)
    return grid.transpose(1, 2, 0)
