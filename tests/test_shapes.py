"""Which axes of a layer output become tiles, rows and columns (``fmlogger.render.shapes``)."""

import numpy as np
import pytest

from fmlogger.render.renderer import Renderer, RenderSettings
from fmlogger.render.shapes import head_axis, to_maps


@pytest.mark.parametrize(
    "shape, axis",
    [
        ((2, 64, 4, 16), 2),  # [n, tokens, heads, dim]
        ((2, 197, 12, 64), 2),  # ViT-B: 12 heads
        ((2, 4, 64, 64), 1),  # [n, heads, queries, keys]
        ((2, 12, 197, 197), 1),
        ((2, 1, 50, 3), 1),  # a one-pixel-high map is a heatmap, not 3 tiles of 1 x 50
        ((2, 7, 7, 512), None),  # images, however small
        ((2, 56, 28, 8), None),
        ((2, 1, 1, 8), None),
        ((2, 16, 8, 4), None),  # 16 tokens of 8 heads: under 4:1, still tiles (upscaled to 32 x 16)
    ],
)
def test_head_axis_is_a_short_middle_axis_at_most_a_quarter_of_the_other(shape, axis):
    assert head_axis(shape) == axis


def test_heads_put_the_last_axis_down_and_the_long_axis_across():
    x = np.zeros((1, 64, 4, 16), np.float32)  # token 10, head 3, dim 5
    x[0, 10, 3, 5] = 1.0
    maps, kind = to_maps(x)
    assert kind == "heads" and maps.shape == (1, 4, 16, 64)
    assert maps[0, 3, 5, 10] == 1.0 and maps.sum() == 1.0
    scores = np.zeros((1, 4, 64, 64), np.float32)  # head 2, query 7, key 9
    scores[0, 2, 7, 9] = 1.0
    maps, kind = to_maps(scores)
    assert kind == "heads" and maps[0, 2, 9, 7] == 1.0  # keys down, queries across


def test_tokens_by_heads_render_as_readable_head_heatmaps_not_64_by_4_tiles():
    x = np.zeros((2, 64, 4, 16), np.float32)
    x[:, :, :, :] = np.arange(64, dtype=np.float32)[None, :, None, None]  # a ramp along the tokens
    frame = Renderer(RenderSettings(min_tile_size=32, padding=1)).render("mha/query", x)
    assert frame.kind == "heads" and frame.channels == (0, 1, 2, 3)
    # 4 heads of 16 (dim, down, x2 to reach 32) x 64 (tokens, across) in a 2 x 2 grid
    assert frame.images.shape == (2, 1 + 2 * (32 + 1), 1 + 2 * (64 + 1), 1)
    row = frame.images[0, 1, 1:65, 0].astype(int)  # head 0, dim 0: tokens 0..63 -> round(t / 63 * 255)
    assert row.tolist() == np.floor(np.arange(64) / 63 * 255 + 0.5).astype(int).tolist()
    assert "4 of 4 heads (the short axis)" in frame.description


def test_heads_follow_max_channels_and_the_layout():
    x = np.random.default_rng(0).random((2, 40, 6, 8), dtype=np.float32)
    renderer = Renderer(RenderSettings(max_channels=2, min_tile_size=8, padding=0))
    last = renderer.render("a", x)
    assert last.kind == "heads" and last.channels == (0, 1)
    assert last.images.shape == (2, 8, 2 * 40, 1)  # 2 heads side by side, 8 (dim) x 40 (tokens)
    first = Renderer(renderer.settings).render("a", x.transpose(0, 3, 1, 2), "channels_first")
    np.testing.assert_array_equal(first.images, last.images)
