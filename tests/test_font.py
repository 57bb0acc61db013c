"""The bitmap fonts: golden digit glyphs, read-back, ASCII coverage and the fallback glyph."""

from __future__ import annotations

import numpy as np
import pytest

from fmlogger.render.font import ASCII, DIGITS, GLYPHS, number_bitmaps, read_numbers, text_mask


def test_digit_glyphs_golden_and_read_back():
    bits = number_bitmaps([10], scale=1)[0].astype(int)
    # "1" then "0", each 3 columns plus a blank column.
    assert bits.tolist() == [
        [0, 1, 0, 0, 1, 1, 1, 0],
        [1, 1, 0, 0, 1, 0, 1, 0],
        [0, 1, 0, 0, 1, 0, 1, 0],
        [0, 1, 0, 0, 1, 0, 1, 0],
        [1, 1, 1, 0, 1, 1, 1, 0],
    ]
    assert len({g.tobytes() for g in GLYPHS}) == len(GLYPHS)  # every glyph distinct
    numbers = [0, 7, 42, 1234, -5]
    assert read_numbers(number_bitmaps(numbers, scale=1)) == numbers
    assert number_bitmaps([3], scale=3).shape == (1, 15, 12)


def test_unknown_glyphs_are_refused_when_read_back():
    bits = number_bitmaps([12], scale=1)
    bits[0, 0, 0] = ~bits[0, 0, 0]
    with pytest.raises(ValueError, match="do not form digits of the timeline font"):
        read_numbers(bits)
    assert DIGITS.read(DIGITS.render(["-7", "0"], length=3, align="right")) == [" -7", "  0"]


def test_font_covers_printable_ascii_and_replaces_the_rest():
    assert ASCII.glyphs.shape == (95, 12, 6)
    assert not text_mask(" ").any()
    for ch in "0123456789AZaz-.%@":
        assert text_mask(ch).any(), ch
    assert text_mask("ab").shape == (12, 12)
    assert np.array_equal(text_mask("é"), text_mask("?"))
    # distinct glyphs for characters a tick label needs
    digits = [text_mask(c).tobytes() for c in "0123456789-.e"]
    assert len(set(digits)) == len(digits)
