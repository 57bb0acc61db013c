"""The render hot paths give exactly the pixels of the plain definitions they replace."""

from __future__ import annotations

import numpy as np
import pytest

from fmlogger.render import colormaps, tiling
from fmlogger.render.normalize import normalize
from fmlogger.render.renderer import (
    NONFINITE_CODE,
    Renderer,
    RenderSettings,
    colorize_codes,
    quantize,
    quantized,
)
from fmlogger.render.stats import activation_stats


def _maps(rng, kind):
    x = (rng.standard_normal((2, 5, 6, 7)) * 30).astype(np.float32)
    if kind == "nan":
        x[0, 1, 2, 3] = np.nan
    elif kind == "inf":
        x[1, 0, 0, 0] = -np.inf
    elif kind == "constant":
        x[:, 2] = 4.0
    elif kind == "relu":
        x = np.maximum(x, 0)
    return x.transpose(0, 3, 1, 2)  # a strided view, like a channels_last layer output


@pytest.mark.parametrize("kind", ["plain", "nan", "inf", "constant", "relu"])
@pytest.mark.parametrize("mode", ["per_map", "per_layer", "symmetric", "fixed"])
@pytest.mark.parametrize("clip", [None, 2.0])
def test_quantized_equals_quantize_of_normalize(rng, kind, mode, clip):
    x = _maps(rng, kind)
    fixed = (-10.0, 25.0) if mode == "fixed" else None
    reference = quantize(normalize(x, mode, clip_percentile=clip, fixed_range=fixed))
    codes, mask = quantized(x, mode, clip_percentile=clip, fixed_range=fixed)
    expected_mask = reference == NONFINITE_CODE
    assert codes.dtype == np.uint8 and codes.shape == x.shape
    if expected_mask.any():
        np.testing.assert_array_equal(mask, expected_mask)
    else:
        assert mask is None
    np.testing.assert_array_equal(codes[~expected_mask], reference[~expected_mask])


def test_quantized_golden_values():
    # per_map over [0, 1, 2, 4]: (x - 0) / 4 * 255 + 0.5, floored -> 0, 64 (63.75+.5), 128 (127.5+.5), 255
    x = np.array([0, 1, 2, 4], np.float32).reshape(1, 1, 2, 2)
    codes, mask = quantized(x, "per_map")
    assert codes.ravel().tolist() == [0, 64, 128, 255] and mask is None


def _naive_tile(maps, scale, cols, padding, pad):
    """One tile at a time, pixel loops: the definition tiling.tile must match."""
    n, k, h, w = maps.shape[:4]
    rows, cols = tiling.grid_shape(k, cols)
    sy, sx = scale
    H, W = tiling.grid_size((h, w), k, scale=scale, cols=cols, padding=padding)
    out = np.empty((n, H, W) + maps.shape[4:], maps.dtype)
    out[...] = pad
    for c in range(k):
        r, q = divmod(c, cols)
        top, left = padding + r * (h * sy + padding), padding + q * (w * sx + padding)
        for yy in range(h * sy):
            for xx in range(w * sx):
                out[:, top + yy, left + xx] = maps[:, c, yy // sy, xx // sx]
    return out


@pytest.mark.parametrize("channels", [None, 3])
@pytest.mark.parametrize(
    "scale, cols, padding", [((1, 1), None, 1), ((2, 3), 2, 0), ((3, 1), None, 2), ((2, 2), 4, 1)]
)
def test_tile_matches_the_naive_definition(rng, channels, scale, cols, padding):
    shape = (2, 5, 3, 4) + ((channels,) if channels else ())
    maps = rng.integers(0, 250, shape, dtype=np.uint8)
    pad = np.array([251, 252, 253], np.uint8) if channels else np.uint8(255)
    got = tiling.tile(maps, scale=scale, cols=cols, padding=padding, pad_code=pad)
    np.testing.assert_array_equal(got, _naive_tile(maps, scale, cols, padding, pad))


def test_colorize_codes_gray_stays_one_channel_and_marks_nonfinite_in_rgb():
    codes = np.array([[0, 128], [255, 7]], np.uint8)
    pixels, pad = colorize_codes(codes, None, "gray")
    assert pixels is codes and int(pad) == 128  # mid-gray padding
    mask = np.array([[False, False], [False, True]])
    rgb, pad = colorize_codes(codes, mask, "viridis")
    table = colormaps.lookup_table("viridis")
    np.testing.assert_array_equal(rgb[0, 1], table[128])
    np.testing.assert_array_equal(rgb[1, 1], colormaps.nonfinite_color("viridis"))
    np.testing.assert_array_equal(pad, colormaps.pad_color("viridis"))


@pytest.mark.parametrize("shape", [(4, 64, 64, 80), (3, 67, 61, 89), (2, 5, 7, 6)])  # 20, 16.6, 1 slices
def test_stats_of_float32_outputs_match_float64(rng, shape):
    x = (rng.standard_normal(shape) * 3 + 5).astype(np.float32)
    x[x < 4] = 0
    stats = activation_stats(x)
    x64 = x.astype(np.float64)
    assert stats["mean"] == pytest.approx(x64.mean(), rel=1e-12)  # float64 sums of exact deviations
    assert stats["std"] == pytest.approx(x64.std(), rel=1e-12)
    assert stats["zero_fraction"] == np.count_nonzero(x == 0) / x.size
    assert stats["nonfinite"] == 0
    last = x[-1, -1, -1, -1]
    x[-1, -1, -1, -1] = np.inf  # in the last, partial slice
    assert activation_stats(x)["nonfinite"] == 1
    x[-1, -1, -1, -1] = last
    x[0, 0, 0, 0] = np.inf
    x[1, 2, 3, 4] = np.nan
    stats = activation_stats(x)
    finite = x64[np.isfinite(x)]
    assert stats["nonfinite"] == 2
    assert stats["mean"] == pytest.approx(finite.mean(), rel=1e-6)


def test_renderer_input_not_modified_and_index_channels_are_a_view(rng):
    x = rng.standard_normal((2, 6, 6, 70)).astype(np.float32)
    before = x.copy()
    frame = Renderer(RenderSettings(max_channels=64, min_tile_size=6)).render("c", x)
    np.testing.assert_array_equal(x, before)
    assert frame.channels == tuple(range(64)) and frame.images.shape == (2, 57, 57, 1)


def test_big_maps_are_block_averaged_down_to_max_tile_size():
    # 6x6 map, max_tile_size=3 -> factor 2: each tile pixel is the mean of a 2x2 block.
    x = np.arange(36, dtype=np.float32).reshape(1, 6, 6, 1)
    frame = Renderer(RenderSettings(max_tile_size=3, min_tile_size=1, padding=0)).render("big", x)
    # Block means: rows (0,1) cols (0,1) -> (0+1+6+7)/4 = 3.5; the means run 3.5, 5.5, 7.5, 15.5, ...,
    # 31.5, so per_map scaling gives (mean - 3.5) / 28 * 255 + 0.5, floored.
    means = np.array([[3.5, 5.5, 7.5], [15.5, 17.5, 19.5], [27.5, 29.5, 31.5]], np.float32)
    expected = np.floor((means - 3.5) / np.float32(28) * 255 + 0.5).astype(np.uint8)
    assert frame.images.shape == (1, 3, 3, 1)
    np.testing.assert_array_equal(frame.images[0, :, :, 0], expected)
    assert "averaged over 2x2 blocks (max_tile_size=3)" in frame.description


def test_max_tile_size_none_keeps_every_pixel_and_default_caps_at_64(rng):
    x = rng.random((1, 300, 260, 2), dtype=np.float32)
    full = Renderer(RenderSettings(max_tile_size=None, padding=0)).render("a", x)
    capped = Renderer(RenderSettings(padding=0)).render("a", x)
    assert full.images.shape == (1, 300, 520, 1)
    assert capped.images.shape == (1, 60, 104, 1)  # factor ceil(300 / 64) = 5: 60 x 52 tiles


def test_max_tile_size_is_validated():
    with pytest.raises(
        ValueError, match="max_tile_size must be an integer >= 1 or None. Received: max_tile_size=0"
    ):
        RenderSettings(max_tile_size=0)
