"""Resizing: block means, nearest-neighbour up and down, bilinear against TensorFlow, scale factors."""

from __future__ import annotations

import numpy as np
import pytest

from fmlogger.render.resize import (
    axis_scale,
    block_mean,
    downscale_factor,
    resize_bilinear,
    resize_nearest,
    upscale,
    upscale_factor,
)


def test_scale_factors():
    assert upscale_factor(5, 5, 32) == 7  # ceil(32 / 5)
    assert upscale_factor(64, 16, 32) == 1
    assert axis_scale(1, 10, 32) == (32, 4)
    assert downscale_factor(224, 100, 64) == 4  # ceil(224 / 64)
    assert downscale_factor(224, 100, None) == 1


def test_block_mean_of_maps_and_images_golden():
    maps = np.arange(2 * 5 * 6, dtype=np.float32).reshape(1, 2, 5, 6)
    means = block_mean(maps, 2)  # the 5th row does not fill a block and is dropped
    assert means.shape == (1, 2, 2, 3) and means.dtype == np.float32
    # top-left block of channel 0: 0, 1, 6, 7 -> 3.5
    assert means[0, 0, 0].tolist() == [3.5, 5.5, 7.5]
    images = maps.transpose(0, 2, 3, 1)  # the same numbers as [n, h, w, c]
    # images: channel c at (y, x) holds 30 c + 6 y + x; the 2x3 block at the top left: 0, 1, 2, 6, 7, 8
    np.testing.assert_array_equal(block_mean(images, (2, 3), axes=(1, 2))[0, 0, 0], [4.0, 34.0])
    assert block_mean(maps, 9).shape == (1, 2, 1, 1)  # a factor larger than the map: one block
    assert np.isnan(block_mean(np.where(maps == 0, np.nan, maps), 2)[0, 0, 0, 0])


def test_upscale_repeats_every_pixel_as_a_square():
    x = np.array([[[1, 2], [3, 4]]], np.uint8)
    assert upscale(x, 2)[0].tolist() == [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]
    assert upscale(x, 1) is x


def test_resize_nearest_averages_blocks_then_samples():
    images = np.zeros((1, 8, 8, 1), np.uint8)
    images[0, ::2, :, 0] = 255  # thin stripes: every other row
    small = resize_nearest(images, (4, 4))
    assert small.shape == (1, 4, 4, 1) and small.dtype == np.uint8
    assert np.all(small == 128)  # 2x2 blocks average to 127.5, rounded half up; no aliasing to 0 or 255
    big = resize_nearest(np.arange(4, dtype=np.uint8).reshape(1, 2, 2, 1), (4, 4))
    assert big[0, :, :, 0].tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]


def test_resize_bilinear_matches_tensorflow():
    tf = pytest.importorskip("tensorflow")
    maps = np.random.default_rng(1).random((2, 5, 7)).astype(np.float32)
    ours = resize_bilinear(maps, (13, 9))
    theirs = tf.image.resize(maps[..., None], (13, 9), method="bilinear").numpy()[..., 0]
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


@pytest.mark.parametrize("factor, axes", [(2, (2, 3)), (3, (2, 3)), ((2, 5), (2, 3)), ((3, 2), (1, 2))])
def test_block_mean_equals_the_mean_over_reshaped_blocks_bit_for_bit(rng, factor, axes):
    x = (rng.standard_normal((2, 31, 47, 6)) * 10).astype(np.float32)
    maps = x.transpose(0, 3, 1, 2) if axes == (2, 3) else x  # a channels_last layer's maps: a view
    fy, fx = (factor, factor) if np.isscalar(factor) else factor
    ay, ax = axes
    hh, ww = maps.shape[ay] // fy, maps.shape[ax] // fx
    cut = maps[:, :, : hh * fy, : ww * fx] if axes == (2, 3) else maps[:, : hh * fy, : ww * fx]
    shape = list(cut.shape)
    shape[ax : ax + 1] = [ww, fx]
    shape[ay : ay + 1] = [hh, fy]
    expected = cut.reshape(shape).mean(axis=(ay + 1, ax + 2), dtype=np.float32)
    got = block_mean(maps, factor, axes=axes)
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
