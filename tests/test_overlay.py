"""Overlays, attribution maps, resizing and image tiling: golden pixels (numpy only)."""

from __future__ import annotations

import numpy as np
import pytest

from fmlogger.render.colormaps import lookup_table, nonfinite_color
from fmlogger.render.overlay import attribution_map, overlay, tile_images, unit_scale


def test_attribution_map_reductions():
    a = np.array([[[[1.0, -3.0], [2.0, 2.0]]]], np.float32)  # [1, 1, 2, 2]: two pixels, two channels
    np.testing.assert_array_equal(attribution_map(a, "max_abs"), [[[3.0, 2.0]]])
    np.testing.assert_array_equal(attribution_map(a, "abs_sum"), [[[2.0, 4.0]]])
    np.testing.assert_array_equal(attribution_map(a, "sum_abs"), [[[4.0, 4.0]]])
    np.testing.assert_array_equal(attribution_map(a, "positive_sum"), [[[0.0, 4.0]]])
    with pytest.raises(ValueError, match="reduce must be one of"):
        attribution_map(a, "mean")


def test_alpha_zero_shows_the_image_and_alpha_one_the_colormap_where_evidence_peaks():
    images = np.full((1, 4, 4, 1), 0.5, np.float32)
    heat = np.zeros((1, 4, 4), np.float32)
    heat[0, 0, 0] = 2.0
    plain = overlay(images, heat, alpha=0.0, min_size=1, value_range=(0, 1), clip_percentile=None)
    assert plain.shape == (1, 4, 4, 3)
    assert np.all(plain == 128)  # round(0.5 * 255) = 127.5 -> 128 (halves up)
    colour = overlay(images, heat, alpha=1.0, min_size=1, value_range=(0, 1), clip_percentile=None)
    viridis = lookup_table("viridis")
    np.testing.assert_array_equal(colour[0, 0, 0], viridis[255])  # the map's top, weight 1 * 1
    np.testing.assert_array_equal(colour[0, 3, 3], [128, 128, 128])  # zero evidence: weight 0, the input
    half = overlay(images, heat, alpha=0.5, min_size=1, value_range=(0, 1), clip_percentile=None)
    expected = np.floor(0.5 * 0.5 * 255 + 0.5 * viridis[255] + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(half[0, 0, 0], expected)


def test_the_input_keeps_its_contrast_where_there_is_no_evidence():
    """A heatmap must not veil the input: zero heat leaves the pixels exactly as they were."""
    rng = np.random.default_rng(0)
    images = rng.random((2, 16, 16, 1)).astype(np.float32)
    heat = np.zeros((2, 16, 16), np.float32)
    heat[:, :4, :4] = 1.0  # evidence only in the top-left corner
    out = overlay(images, heat, alpha=0.5, min_size=1, value_range=(0, 1), clip_percentile=None)
    plain = overlay(images, heat, alpha=0.0, min_size=1, value_range=(0, 1), clip_percentile=None)
    # bilinear resizing is the identity at equal size; rows 5.. hold no evidence at all
    np.testing.assert_array_equal(out[:, 5:], plain[:, 5:])
    assert out[:, 5:].std() > 60  # uniform [0, 1) pixels: std 255 / sqrt(12) = 73.6
    # at the peak the input still shows through: two inputs that differ stay different
    peak = out[:, :4, :4].astype(int)
    assert np.abs(peak[0] - peak[1]).max() > 0


def test_small_heatmaps_are_resized_and_small_images_upscaled():
    images = np.zeros((2, 8, 8, 3), np.float32)
    heat = np.arange(2 * 4 * 4, dtype=np.float32).reshape(2, 4, 4)
    out = overlay(images, heat, min_size=32)
    assert out.shape == (2, 32, 32, 3)  # 8 px * factor 4
    # nearest-neighbour upscale: each source pixel is a 4x4 block
    assert np.all(out[:, :4, :4] == out[:, :1, :1])


def test_nonfinite_heat_gets_the_marker_colour_and_inputs_are_not_mutated():
    images = np.random.default_rng(0).random((1, 4, 4, 1)).astype(np.float32)
    heat = np.ones((1, 4, 4), np.float32)
    heat[0, 2, 3] = np.nan
    before_i, before_h = images.copy(), heat.copy()
    out = overlay(images, heat, alpha=1.0, colormap="magma", min_size=1)
    np.testing.assert_array_equal(out[0, 2, 3], nonfinite_color("magma"))
    np.testing.assert_array_equal(images, before_i)
    np.testing.assert_array_equal(heat, before_h)


def test_overlay_rejects_bad_arguments():
    with pytest.raises(ValueError, match="alpha must be a number in"):
        overlay(np.zeros((1, 4, 4, 1)), np.zeros((1, 4, 4)), alpha=1.5)
    with pytest.raises(ValueError, match="colormap must be one of"):
        overlay(np.zeros((1, 4, 4, 1)), np.zeros((1, 4, 4)), colormap="jet")
    with pytest.raises(ValueError, match=r"heatmaps must be \[n, h, w\] with n = 2"):
        overlay(np.zeros((2, 4, 4, 1)), np.zeros((1, 4, 4)))


def test_unit_scale_keeps_zero_at_the_bottom_and_clips_the_top():
    maps = np.array([[[0.0, 1.0, 2.0, 100.0]]], np.float32)
    np.testing.assert_allclose(unit_scale(maps, clip_percentile=None), [[[0, 0.01, 0.02, 1.0]]], rtol=1e-6)
    clipped = unit_scale(maps, clip_percentile=30)  # hi = 70th percentile = 1.0 * 0.1 + 2.0 * 0.9 = 1.9...
    assert clipped[0, 0, 3] == 1.0 and clipped[0, 0, 0] == 0.0
    np.testing.assert_allclose(
        unit_scale(np.full((1, 2, 2), 3.0)), 1.0
    )  # scaled 0 .. hi: uniform evidence is top
    np.testing.assert_allclose(unit_scale(np.zeros((1, 2, 2))), 0.0)  # no evidence: bottom, no division by 0
    np.testing.assert_allclose(
        unit_scale(np.array([[[-1.0, 0.0, 1.0]]]), clip_percentile=None, symmetric=True), [[[0, 0.5, 1]]]
    )


def test_tile_images_grey_and_rgb_grids():
    grey = np.stack([np.zeros((2, 2, 1)), np.ones((2, 2, 1)), np.full((2, 2, 1), 0.5)]).astype(np.float32)
    grid = tile_images(grey, min_tile_size=2, padding=1, value_range=(0, 1))
    assert grid.shape == (7, 7, 1)  # 2x2 grid of 2 px tiles, 1 px padding
    assert grid[1, 1, 0] == 0 and grid[1, 4, 0] == 255 and grid[4, 1, 0] == 128
    assert grid[0, 0, 0] == 255 and grid[4, 4, 0] == 255  # padding and the empty cell are white
    rgb = tile_images(np.random.default_rng(0).random((4, 3, 3, 3)).astype(np.float32), min_tile_size=6)
    assert rgb.shape == (2 * 7 + 1, 2 * 7 + 1, 3)
