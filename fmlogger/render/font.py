"""Bitmap fonts drawn with numpy (no PIL, no matplotlib): one renderer, two fonts.

* ``DIGITS``: 3x5 glyphs for ``0-9``, ``-`` and blank in 4-pixel cells; the step labels of
  timelines (``fmlogger.render.timeline``) and of exported frames, read back by ``read_numbers``.
* ``ASCII``: 6x12 glyphs for printable ASCII (other characters draw as ``?``), rasterised from
  DejaVu Sans Mono (Bitstream Vera license; DejaVu changes are public domain); the text of
  scatter plots (``fmlogger.render.scatter``).

Example:
    >>> number_bitmaps([7, 42]).shape          # 2 labels, 5 rows, 2 cells of 4 columns
    (2, 5, 8)
    >>> read_numbers(number_bitmaps([7, 42]))
    [7, 42]
    >>> text_mask("Hi").shape
    (12, 12)
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class BitmapFont:
    """A monospaced bitmap font.

    Attributes:
        glyphs: bool ``[k, height, width]``, one cell per character, spacing included.
        chars: ``chars[i]`` is drawn by ``glyphs[i]``; must hold ``" "`` (padding).
        fallback: the character drawn for any character the font lacks.
    """

    glyphs: np.ndarray
    chars: str
    fallback: str

    @property
    def height(self) -> int:
        return int(self.glyphs.shape[1])

    @property
    def width(self) -> int:
        return int(self.glyphs.shape[2])

    def render(self, texts: Sequence[str], *, length: int | None = None, align: str = "left",
               scale: int = 1) -> np.ndarray:
        """Draws texts in cells: bool ``[len(texts), height * scale, length * width * scale]``.

        Args:
            texts: one string per output bitmap.
            length: cells per bitmap (at least the longest text; default: the longest text).
            align: ``"left"`` or ``"right"`` within ``length`` cells (blank cells pad).
            scale: every pixel magnified to ``scale x scale``.
        """
        length = max([length or 0] + [len(t) for t in texts])
        index = {c: i for i, c in enumerate(self.chars)}
        missing = index[self.fallback]
        padded = [t.ljust(length) if align == "left" else t.rjust(length) for t in texts]
        codes = np.array([[index.get(c, missing) for c in t] for t in padded], dtype=np.intp)
        cells = self.glyphs[codes.reshape(len(texts), length)]  # [n, length, h, w]
        bitmaps = cells.transpose(0, 2, 1, 3).reshape(len(texts), self.height, length * self.width)
        return bitmaps.repeat(scale, axis=1).repeat(scale, axis=2) if scale > 1 else bitmaps

    def read(self, bitmaps: np.ndarray) -> list[str]:
        """Reads back what ``render(..., scale=1)`` drew; raises ValueError on an unknown glyph."""
        n, _height, width = bitmaps.shape
        cells = bitmaps.reshape(n, self.height, width // self.width, self.width).transpose(0, 2, 1, 3)
        match = (cells[:, :, None] == self.glyphs[None, None]).all(axis=(-1, -2))
        if not match.any(axis=-1).all():
            raise ValueError("the pixels do not form glyphs of this font")
        chars = np.array(list(self.chars))[match.argmax(axis=-1)]
        return ["".join(row) for row in chars]


def _digit_glyphs() -> np.ndarray:
    rows = (
        ("111", "101", "101", "101", "111"),
        ("010", "110", "010", "010", "111"),
        ("111", "001", "111", "100", "111"),
        ("111", "001", "111", "001", "111"),
        ("101", "101", "111", "001", "001"),
        ("111", "100", "111", "001", "111"),
        ("111", "100", "111", "101", "111"),
        ("111", "001", "001", "001", "001"),
        ("111", "101", "111", "101", "111"),
        ("111", "101", "111", "001", "111"),
        ("000", "000", "111", "000", "000"),
        ("000", "000", "000", "000", "000"),
    )
    glyphs = np.array([[[c == "1" for c in row + "0"] for row in glyph] for glyph in rows], dtype=bool)
    glyphs.setflags(write=False)
    return glyphs


GLYPHS = _digit_glyphs()
"""bool ``[12, 5, 4]``: the 3x5 glyphs of ``0``..``9``, ``-`` and blank, each with a blank 4th column."""

DIGITS = BitmapFont(GLYPHS, "0123456789- ", " ")
"""The 3x5 digit font (4-pixel cells)."""

_GLYPH_HEX = (
    "000000000000000000000000000404040404040004000000000a0a0a00000000000000000005091f0a0a3f14140000000004"
    "0f14140e05051e040400001824190208170507000000000e1018181423331f0000000004040400000000000000000204040c"
    "08080c040402000008040404040404040c0800000004150e0e1504000000000000000004043f040400000000000000000000"
    "00040408000000000000000e000000000000000000000000000404000000000302020404080810100000000e1b111115111b"
    "0e000000001c0404040404041f000000001e130302040c181f000000000e13030e0301131e0000000006060a12123f020200"
    "0000001e10101e0301031e000000000e18101e1311130e000000001f02020204040c08000000000e13130e1311130e000000"
    "000e1311130f01021e000000000000040400000404000000000000040400000404080000000000010e300e01000000000000"
    "00003f003f0000000000000000300e030e3000000000001e03020404040004000000000e11112729292710180e00000c0c0a"
    "0a121f1131000000001e13131e1111111e000000000e1910101010190e000000001c1211111111121c000000001f10101f10"
    "10101f000000001f10101f10101010000000000e1910101311190e000000001111111f11111111000000001f040404040404"
    "1f000000000e0202020202021c000000001112141c1412131100000000101010101010101f00000000333b3b3d3531313100"
    "0000001119191515171313000000000e1311111111130e000000001e1111131e101010000000000e1311111111130e020000"
    "001e1313131e121111000000000e1010180601130e000000003f0404040404040400000000111111111111130e0000000031"
    "1113120a0a0c0c000000002121253d191b1b1300000000111a0a040c0a13310000000031130a0c04040404000000001f0102"
    "040408101f0000000e0c0c0c0c0c0c0c0c0e00000010100808040402020300000c04040404040404040c0000000c0a110000"
    "00000000000000000000000000000000003f0804000000000000000000000000001e031f11131f0000001010101e1b11111b"
    "1e0000000000000f181010180f0000000101010f131313130f0000000000000e111f10100f0000000704041f040404040400"
    "00000000000f131313130f021e001010101e1b111111110000000400001c040404041f0000000400001c0404040404041c00"
    "10101013161c1e12110000001c0c0c0c0c0c0c0c070000000000001f15151515150000000000001e1b111111110000000000"
    "000e131111130e0000000000001e1b11111b1e1010000000000f131111130f0101000000000f0c080808080000000000000e"
    "101c06031e0000000008081f0808080c0700000000000011111111130f0000000000001113120a0e0c000000000000212115"
    "1d1b1a000000000000130a0c0c1a1100000000000011110a0a0c040c18000000001f020408081f00000007040404180c0404"
    "0407000004040404040404040404040018040404070404040418000000000000001c070000000000"
)


def _ascii_glyphs() -> np.ndarray:
    rows = np.frombuffer(bytes.fromhex("".join(_GLYPH_HEX)), dtype=np.uint8)
    bits = (rows[:, None] >> np.arange(5, -1, -1)) & 1
    glyphs = bits.reshape(95, 12, 6).astype(bool)
    glyphs.setflags(write=False)
    return glyphs


ASCII = BitmapFont(_ascii_glyphs(), "".join(chr(c) for c in range(32, 127)), "?")
"""The 6x12 font of printable ASCII (``chr(32)``..``chr(126)``)."""

GLYPH_HEIGHT, GLYPH_WIDTH = ASCII.height, ASCII.width


def number_bitmaps(numbers, scale: int = 1, digits: int | None = None) -> np.ndarray:
    """Draws integers right-aligned in the digit font: bool ``[len(numbers), 5*scale, digits*4*scale]``.

    Each character cell is 3 glyph columns plus 1 blank column, all magnified ``scale`` times;
    ``digits`` cells at least (more when a number is longer).
    """
    return DIGITS.render([str(int(v)) for v in numbers], length=digits or 1, align="right", scale=scale)


def read_numbers(bitmaps: np.ndarray) -> list[int]:
    """Reads back what ``number_bitmaps(numbers, scale=1)`` drew. Raises ValueError on an unknown glyph."""
    try:
        texts = DIGITS.read(bitmaps)
    except ValueError:
        raise ValueError("label pixels do not form digits of the timeline font") from None
    return [int(text.strip()) for text in texts]


def text_mask(text: str, scale: int = 1) -> np.ndarray:
    """Bool ``[12 * scale, 6 * len(text) * scale]``: the pixels of ``text`` in the ASCII font."""
    return ASCII.render([str(text)], scale=scale)[0]


def draw_mask(canvas: np.ndarray, mask: np.ndarray, y: int, x: int, color) -> None:
    """Paints ``color`` where ``mask`` is set, with its top-left at ``(y, x)``; clipped to the canvas."""
    h, w = canvas.shape[:2]
    y0, x0 = max(y, 0), max(x, 0)
    y1, x1 = min(y + mask.shape[0], h), min(x + mask.shape[1], w)
    if y1 <= y0 or x1 <= x0:
        return
    region = canvas[y0:y1, x0:x1]
    region[mask[y0 - y : y1 - y, x0 - x : x1 - x]] = color


def draw_text(canvas: np.ndarray, text: str, y: int, x: int, color, *, anchor: str = "left",
              vertical: bool = False, scale: int = 1) -> None:
    """Writes ``text`` in the ASCII font at ``(y, x)``; ``anchor``: ``"left"``, ``"center"`` or ``"right"``.

    ``vertical`` turns the text 90 degrees counter-clockwise (reading bottom to top), anchored on
    its vertical extent; ``scale`` magnifies every glyph pixel to ``scale x scale``.
    """
    mask = text_mask(text, scale)
    if vertical:
        mask = np.rot90(mask)
        length = mask.shape[0]
        offset = {"left": -length, "center": -length // 2, "right": 0}[anchor]
        draw_mask(canvas, mask, y + offset, x, color)
        return
    length = mask.shape[1]
    offset = {"left": 0, "center": -length // 2, "right": -length}[anchor]
    draw_mask(canvas, mask, y, x + offset, color)
