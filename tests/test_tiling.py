import numpy as np
import pytest

from fmlogger.render.tiling import grid_shape, grid_size, tile


@pytest.mark.parametrize(
    "n, cols, expected",
    [(1, None, (1, 1)), (4, None, (2, 2)), (5, None, (2, 3)), (16, None, (4, 4)), (17, None, (4, 5)),
     (64, None, (8, 8)), (10, 4, (3, 4)), (3, 8, (1, 3))],
)
def test_grid_shape(n, cols, expected):
    assert grid_shape(n, cols) == expected


def test_tile_places_channels_row_by_row_with_padding():
    n, k, h, w = 2, 5, 3, 4
    maps = np.arange(n * k * h * w, dtype=np.uint16).reshape(n, k, h, w)
    out = tile(maps, padding=2, pad_code=999)
    rows, cols = 2, 3
    assert out.shape == (n, rows * (h + 2) + 2, cols * (w + 2) + 2)
    assert out.shape[1:] == grid_size((h, w), k, padding=2)
    for channel in range(k):
        r, c = divmod(channel, cols)
        y, x = 2 + r * (h + 2), 2 + c * (w + 2)
        np.testing.assert_array_equal(out[:, y : y + h, x : x + w], maps[:, channel])
    # the 6th cell is empty, and the first rows/columns are padding
    assert np.all(out[:, 2 + h + 2 :, 2 + 2 * (w + 2) :] == 999)
    assert np.all(out[:, :2] == 999) and np.all(out[:, :, :2] == 999)


def test_tile_upscales_nearest_neighbour():
    maps = np.array([[[[1, 2], [3, 4]]]], dtype=np.uint16)
    out = tile(maps, scale=(2, 3), padding=0)
    assert out[0].tolist() == [[1, 1, 1, 2, 2, 2], [1, 1, 1, 2, 2, 2], [3, 3, 3, 4, 4, 4], [3, 3, 3, 4, 4, 4]]

