"""The numpy scatter plot: font, ticks, where points land and in which colour."""

from __future__ import annotations

import numpy as np
import pytest

from fmlogger.render import scatter
from fmlogger.render.scatter import PALETTE, nice_ticks, scatter_image, text_mask


def test_font_covers_printable_ascii_and_replaces_the_rest():
    assert scatter.glyphs().shape == (95, 12, 6)
    assert not text_mask(" ").any()
    for ch in "0123456789AZaz-.%@":
        assert text_mask(ch).any(), ch
    assert text_mask("ab").shape == (12, 12)
    assert np.array_equal(text_mask("é"), text_mask("?"))
    # distinct glyphs for characters a tick label needs
    digits = [text_mask(c).tobytes() for c in "0123456789-.e"]
    assert len(set(digits)) == len(digits)


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
    # the swatch of entry 21 (index 20) is not drawn, entry 20's is
    assert np.any(np.all(image == PALETTE[19], axis=-1))
    swatch_rows = [np.all(image == PALETTE[i], axis=-1).sum() for i in range(20)]
    assert min(swatch_rows) >= 64  # every listed entry has its 8x8 swatch


def test_unlabelled_points_use_one_colour(rng):
    image = scatter_image(rng.normal(size=(50, 2)))
    assert np.all(image == np.array(scatter.UNLABELLED, np.uint8), axis=-1).sum() > 50


def test_too_small_size_is_refused():
    with pytest.raises(ValueError, match=r"size must be at least \(120, 200\).*Received: size=\(50, 50\)"):
        scatter_image(np.zeros((2, 2)), size=(50, 50))
