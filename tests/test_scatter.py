"""The numpy scatter plot: font, ticks, where points land and in which colour."""

from __future__ import annotations

import numpy as np
import pytest

from fmlogger.render import scatter
from fmlogger.render.font import text_mask
from fmlogger.render.scatter import PALETTE, nice_ticks, scatter_image


@pytest.mark.parametrize(
    "lo, hi, expected",
    [(0, 10, [0, 2, 4, 6, 8, 10]), (-0.03, 0.021, [-0.02, 0.0, 0.02]), (1, 1.9, [1, 1.2, 1.4, 1.6, 1.8])],
)
def test_nice_ticks(lo, hi, expected):
    assert np.allclose(nice_ticks(lo, hi), expected)


def test_points_land_where_their_coordinates_say_in_their_class_colour():
    points = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    image = scatter_image(points, np.array([0, 1, 2, 3]), ["a", "b", "c", "d"], size=(200, 300))
    assert image.shape == (200, 300, 3) and image.dtype == np.uint8
    for colour in PALETTE[:4]:
        ys, xs = np.nonzero(np.all(image == colour, axis=-1))
        assert len(ys) >= 21  # the 21-pixel dot (legend swatches add more)
    # class 1 sits top right of class 0: its dot pixels (the legend starts at x = 228:
    # 300 - 10 margin - 72 legend + 10 gap)
    def centre(colour):
        ys, xs = np.nonzero(np.all(image[:, :225] == colour, axis=-1))
        return ys.mean(), xs.mean()
    y0, x0 = centre(PALETTE[0])
    y1, x1 = centre(PALETTE[1])
    assert x1 > x0 + 50 and y1 < y0 - 50


def test_scatter_is_deterministic_and_ignores_non_finite_points(rng):
    points = rng.normal(size=(300, 2))
    labels = rng.integers(0, 3, 300)
    a = scatter_image(points, labels, ["x", "y", "z"], title="t")
    b = scatter_image(points.copy(), labels.copy(), ["x", "y", "z"], title="t")
    assert np.array_equal(a, b)
    with_nan = np.concatenate([points, [[np.nan, 0.0], [np.inf, 1.0]]])
    c = scatter_image(with_nan, np.concatenate([labels, [0, 0]]), ["x", "y", "z"], title="t")
    assert np.array_equal(a, c)


def test_legend_lists_at_most_20_entries_then_more():
    names = [f"class{i}" for i in range(25)]
    image = scatter_image(np.zeros((25, 2)) + np.arange(25)[:, None], np.arange(25), names, size=(480, 640))
    # legend geometry: 8 + 6 * len("+00 more") + 16 = 72 px wide, at x = 640 - 10 - 72 + 10 = 568,
    # rows of 16 px from y = 8 (no title): swatch at rows y+2..y+9, x..x+7; text at x + 12
    x, top, step = 568, 8, 16
    legend = image[:, x:]
    for i in range(20):  # every listed entry has its 8x8 swatch in its own colour, in its row
        row = top + i * step
        assert np.all(image[row + 2 : row + 10, x : x + 8] == PALETTE[i]), i
    for i in range(20, 25):  # entries 21..25 get no swatch, though their points are drawn
        assert not np.all(legend == PALETTE[i], axis=-1).any(), i
        assert np.all(image[:, :x] == PALETTE[i], axis=-1).sum() >= 21, i
    more = text_mask("+5 more")  # the 21st row says how many are left out
    row = top + 20 * step
    ink = np.all(image[row : row + 12, x + 12 : x + 12 + more.shape[1]] == scatter.INK, axis=-1)
    np.testing.assert_array_equal(ink, more)
    assert not np.any(np.all(image[row + step :, x:] == scatter.INK, axis=-1))  # nothing below it


def test_every_category_an_embedding_view_colours_gets_its_own_colour():
    from fmlogger.views.embeddings import MAX_COLOR_CATEGORIES

    colours = {tuple(c) for c in PALETTE.tolist()}
    assert len(colours) == len(PALETTE) >= MAX_COLOR_CATEGORIES
    assert not colours & {scatter.BACKGROUND, scatter.INK, scatter.GRID}
    labels = np.arange(MAX_COLOR_CATEGORIES)
    grid = np.stack([labels % 10, labels // 10], axis=1).astype(float)  # 10 x 5 points, well apart
    image = scatter_image(grid, labels, size=(400, 400))
    for label in labels:  # one dot per category, each in its own colour
        assert np.all(image == PALETTE[label], axis=-1).sum() >= 21, label


def test_unlabelled_points_use_one_colour(rng):
    image = scatter_image(rng.normal(size=(50, 2)))
    assert np.all(image == np.array(scatter.UNLABELLED, np.uint8), axis=-1).sum() > 50


def test_too_small_size_is_refused():
    with pytest.raises(ValueError, match=r"size must be at least \(120, 200\).*Received: size=\(50, 50\)"):
        scatter_image(np.zeros((2, 2)), size=(50, 50))


def test_text_and_dots_scale_with_the_image_so_they_stay_readable_on_a_card(rng):
    """TensorBoard fits an image to its card (~400 px wide): text must grow with the image."""
    assert scatter.DEFAULT_SIZE == (540, 720) and scatter.text_scale_for(540, 720) == 2
    assert scatter.text_scale_for(360, 480) == 1 and scatter.text_scale_for(1080, 1440) == 4
    title = "conv3 @ epoch 7: PCA"
    image = scatter_image(rng.normal(size=(40, 2)), np.arange(40) % 3, ["a", "b", "c"], title=title)
    assert image.shape == (540, 720, 3)
    big = text_mask(title, 2)  # 24 x 480: every glyph pixel a 2x2 block
    assert big.shape == (24, 12 * len(title))
    rows = np.nonzero(np.all(image[:40] == scatter.INK, axis=-1).any(axis=1))[0]
    ink = np.all(image[6 : 6 + 24] == scatter.INK, axis=-1)
    cols = np.nonzero(ink.any(axis=0))[0]
    x0 = cols.min() - np.nonzero(big.any(axis=0))[0].min()
    np.testing.assert_array_equal(ink[:, x0 : x0 + big.shape[1]], big)  # the title, magnified 2x exactly
    assert rows.max() - rows.min() + 1 >= 18  # glyph ink 9+ rows at 1x -> 18+ px: ~10 px on a 400 px card
    # dots grow too: radius 4 at scale 2 (57 pixels), 2 at scale 1 (21 pixels)
    assert len(scatter.disc(4)) == 57 and len(scatter.disc(2)) == 21
    one = scatter_image(np.zeros((1, 2)), np.zeros(1, int), size=(540, 720))
    assert np.all(one == PALETTE[0], axis=-1).sum() == 57
    small = scatter_image(np.zeros((1, 2)), np.zeros(1, int), size=(540, 720), text_scale=1)
    assert np.all(small == PALETTE[0], axis=-1).sum() == 21
    message = r"text_scale must be an integer >= 1 or None\. Received: text_scale=0"
    with pytest.raises(ValueError, match=message):
        scatter_image(np.zeros((2, 2)), text_scale=0)
