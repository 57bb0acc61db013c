"""The Projector sprite: layout within 8192 px, thumbnails placed row by row, inputs to uint8."""

from __future__ import annotations

import numpy as np
import pytest

from fmlogger.render.sprite import images_to_uint8, make_sprite, sprite_layout


@pytest.mark.parametrize(
    "n, h, w, expected",
    [
        (100_000, 32, 32, (25, 25, 317)),  # 317 * 25 = 7925 <= 8192
        (10, 224, 224, (64, 64, 4)),  # capped at 64 px thumbnails
        (9, 20, 40, (20, 40, 3)),  # native size, aspect kept
        (100_000, 30, 60, (12, 25, 317)),  # longer side 25, aspect kept
    ],
)
def test_sprite_layout_stays_within_8192(n, h, w, expected):
    th, tw, cols = sprite_layout(n, h, w)
    assert (th, tw, cols) == expected
    rows = -(-n // cols)
    assert cols * tw <= 8192 and rows * th <= 8192


def test_make_sprite_respects_the_limit_and_places_thumbnails_row_by_row(rng):
    images = rng.integers(0, 256, size=(400, 16, 16, 1), dtype=np.uint8)
    sprite, (tw, th) = make_sprite(images, max_px=100)
    assert (tw, th) == (5, 5)  # 20 columns must fit in 100 px
    assert sprite.shape == (100, 100, 1)
    small, _ = make_sprite(images[:10])  # native 16 px: 4 columns, 3 rows, zero padding after
    assert small.shape == (48, 64, 1)
    assert np.array_equal(small[16:32, 32:48], images[6])  # thumbnail 6: row 1, column 2
    assert not small[32:48, 32:].any()


def test_images_to_uint8_scales_the_set_and_refuses_non_images():
    x = np.linspace(-1, 1, 2 * 4 * 4).reshape(2, 4, 4, 1)
    pixels = images_to_uint8(x)
    assert pixels.dtype == np.uint8 and pixels.min() == 0 and pixels.max() == 255
    assert images_to_uint8(np.ones((5, 10))) is None  # tabular inputs: no sprite
    assert images_to_uint8(np.ones((5, 8, 8, 7))) is None  # 7 channels are no image
