"""PNG bytes -> uint8 pixels without TensorFlow: Pillow when installed, else numpy + zlib.

Both paths first read the IHDR chunk and refuse images over ``MAX_PIXELS`` (a forged header
cannot make the reader allocate gigabytes). The numpy decoder handles what fmlogger's encoder
(``fmlogger.render.png``) writes, and more: non-interlaced 8-bit gray, gray+alpha, RGB and RGBA
with any of the five PNG row filters. Rows filtered with None/Up only (fmlogger's output) are
undone with one cumulative sum; other filters go along anti-diagonals (pixel ``(r, c)`` needs
``(r, c-1)``, ``(r-1, c)`` and ``(r-1, c-1)``), one numpy step per diagonal, not per pixel.

Example:
    >>> from fmlogger.render.png import encode_png
    >>> decode_png(encode_png(np.full((2, 3), 7, np.uint8))).shape
    (2, 3, 1)
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np

__all__ = ["MAX_PIXELS", "decode_png", "decode_png_numpy", "png_header"]

MAX_PIXELS = 50_000_000
"""Largest ``width * height`` decoded; bigger images are refused before any pixel is inflated."""

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 4: 2, 2: 3, 6: 4}  # colour type -> channels (gray, gray+alpha, RGB, RGBA)
_PIL_MODES = ("L", "LA", "RGB", "RGBA")


def _chunks(data: bytes):
    """``(type, body)`` of each chunk, checking lengths and CRCs; stops after IEND."""
    if data[:8] != _SIGNATURE:
        raise ValueError(f"not a PNG: the data starts with {bytes(data[:8])!r}, not the PNG signature")
    pos = 8
    while True:
        if pos + 8 > len(data):
            raise ValueError(f"truncated PNG: no chunk header at byte {pos} of {len(data)}")
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 8 + length
        if end + 4 > len(data):
            raise ValueError(f"truncated PNG: chunk {kind!r} at byte {pos} needs {length} bytes")
        body = data[pos + 8 : end]
        (crc,) = struct.unpack(">I", data[end : end + 4])
        if zlib.crc32(kind + body) != crc:
            raise ValueError(f"damaged PNG: CRC mismatch in chunk {kind!r} at byte {pos}")
        yield kind, body
        if kind == b"IEND":
            return
        pos = end + 4


def png_header(data: bytes) -> tuple[int, int, int, int, int]:
    """``(width, height, bit depth, colour type, interlace)`` from the IHDR chunk, size-checked.

    Raises:
        ValueError: not a PNG, a damaged IHDR, a zero size, or ``width * height > MAX_PIXELS``.

    Example:
        >>> from fmlogger.render.png import encode_png
        >>> png_header(encode_png(np.zeros((2, 3, 4), np.uint8)))
        (3, 2, 8, 6, 0)
    """
    kind, body = next(_chunks(data[:33]))
    if kind != b"IHDR" or len(body) != 13:
        raise ValueError(f"damaged PNG: the first chunk is {kind!r} of {len(body)} bytes, not IHDR")
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
    if width == 0 or height == 0:
        raise ValueError(f"damaged PNG: IHDR says {width}x{height} pixels")
    if width * height > MAX_PIXELS:
        raise ValueError(
            f"PNG of {width}x{height} = {width * height:,} pixels refused: over the "
            f"{MAX_PIXELS:,}-pixel limit (a damaged or hostile header)"
        )
    return width, height, depth, colour, interlace


def _checked(data: bytes) -> tuple[tuple[int, int, int, int, int], bytes]:
    """The IHDR fields (size-checked first) and the joined IDAT data, every chunk's CRC checked."""
    header = png_header(data)
    return header, b"".join(body for kind, body in _chunks(data) if kind == b"IDAT")


def _paeth(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def _unfilter_diagonals(filters: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Undoes any mix of row filters, one anti-diagonal of pixels per numpy step."""
    height, width, channels = rows.shape
    out = np.zeros((height + 1, width + 1, channels), np.int16)  # row 0 and column 0: zeros
    for diagonal in range(height + width - 1):
        r = np.arange(max(0, diagonal - width + 1), min(height, diagonal + 1))
        c = diagonal - r
        a, b, ul = out[r + 1, c], out[r, c + 1], out[r, c]
        kind = filters[r, None]
        predicted = np.select(
            [kind == 1, kind == 2, kind == 3, kind == 4], [a, b, (a + b) >> 1, _paeth(a, b, ul)], 0
        )
        out[r + 1, c + 1] = (rows[r, c] + predicted) & 0xFF
    return out[1:, 1:].astype(np.uint8)


def decode_png_numpy(data: bytes) -> np.ndarray:
    """Decodes a non-interlaced 8-bit gray/gray+alpha/RGB/RGBA PNG with numpy and zlib only.

    Args:
        data: the PNG file's bytes.

    Returns:
        uint8 ``[h, w, c]``, c in 1..4.

    Raises:
        ValueError: not a PNG, damaged, over ``MAX_PIXELS``, or a kind this decoder does not
            handle (palette, 16-bit, interlaced: install Pillow for those).

    Example:
        >>> from fmlogger.render.png import encode_png
        >>> decode_png_numpy(encode_png(np.eye(2, dtype=np.uint8) * 255))[:, :, 0].tolist()
        [[255, 0], [0, 255]]
    """
    (width, height, depth, colour, interlace), idat = _checked(data)
    if depth != 8 or colour not in _CHANNELS or interlace:
        raise ValueError(
            f"PNG with bit depth {depth}, colour type {colour}, interlace {interlace}: the built-in "
            "decoder reads non-interlaced 8-bit gray/RGB(A) only; pip install pillow for the others"
        )
    channels = _CHANNELS[colour]
    expected = height * (1 + width * channels)
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(idat, expected + 1)  # never inflates more than one byte too many
    except zlib.error as err:
        raise ValueError(f"damaged PNG: its pixel data does not inflate ({err})") from None
    if len(raw) != expected:
        raise ValueError(
            f"damaged PNG: {width}x{height}x{channels} needs {expected} bytes of rows, "
            f"the data {'holds more' if len(raw) > expected else f'holds {len(raw)}'}"
        )
    lines = np.frombuffer(raw, np.uint8).reshape(height, 1 + width * channels)
    filters, rows = lines[:, 0], lines[:, 1:].reshape(height, width, channels)
    if filters.max() > 4:
        raise ValueError(f"damaged PNG: row filter {int(filters.max())} (valid: 0..4)")
    if np.isin(filters, (0, 2)).all():  # None/Up: each row adds to the one above, back to a None row
        summed = np.cumsum(rows, axis=0, dtype=np.uint8)
        base = np.maximum.accumulate(np.where(filters == 0, np.arange(height), -1))
        before = np.where(base[:, None, None] > 0, summed[np.maximum(base - 1, 0)], 0)
        return (summed - before).astype(np.uint8)
    return _unfilter_diagonals(filters, rows.astype(np.int16))


def decode_png(data: bytes) -> np.ndarray:
    """PNG bytes -> uint8 ``[h, w, c]`` (c: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA).

    Uses Pillow when installed (palette images become RGB or RGBA, as in TensorFlow's decoder),
    else ``decode_png_numpy``. On both paths the size in the header is checked first, then the
    chunks' lengths and CRCs.

    Raises:
        ValueError: the bytes are not a PNG either decoder reads, or the image is over
            ``MAX_PIXELS``; the message says what is wrong.

    Example:
        >>> from fmlogger.render.png import encode_png
        >>> decode_png(encode_png(np.zeros((4, 5, 3), np.uint8))).shape
        (4, 5, 3)
    """
    try:
        from PIL import Image
    except ImportError:
        return decode_png_numpy(data)
    _checked(data)  # the size cap, and clear messages for damaged chunks, before Pillow sees it
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            if image.mode not in _PIL_MODES:
                image = image.convert("RGBA" if image.has_transparency_data else "RGB")
            array = np.asarray(image)
    except (OSError, SyntaxError, ValueError) as err:  # Pillow's errors for unreadable images
        raise ValueError(f"damaged PNG: Pillow cannot decode it ({err})") from None
    return array[:, :, None] if array.ndim == 2 else array
