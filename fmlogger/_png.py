"""A small, fast PNG encoder (numpy + zlib), so rendering and encoding need no TensorFlow.

Encodes at zlib level 1 with PNG's "Up" filter: nearest-neighbour upscaled tiles repeat rows,
which that filter turns into runs of zeros, so files stay small while encoding stays cheap
(gray images use zlib's run-length strategy, which finds exactly those runs).
TensorBoard decodes these like any other PNG.

Example:
    >>> import numpy as np
    >>> encode_png(np.zeros((2, 3), np.uint8))[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> grey, grey+alpha, RGB, RGBA
_FILTER_UP = 2


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _deflate(data: np.ndarray, level: int, strategy: int) -> bytes:
    if strategy == zlib.Z_DEFAULT_STRATEGY:
        return zlib.compress(data, level)
    compressor = zlib.compressobj(level, zlib.DEFLATED, zlib.MAX_WBITS, 8, strategy)
    return compressor.compress(data) + compressor.flush()


def encode_png(image: np.ndarray, level: int = 1, *, strategy: int | None = None) -> bytes:
    """Encodes a uint8 image as PNG bytes.

    Args:
        image: uint8 array of shape ``[h, w]`` or ``[h, w, c]`` with c in 1..4.
        level: zlib compression level, 0..9.
        strategy: zlib strategy (``zlib.Z_DEFAULT_STRATEGY``, ``zlib.Z_RLE``, ...). None picks
            ``Z_RLE`` for one channel (measured ~15-20% faster and 4-10% smaller on rendered grids)
            and the default strategy otherwise (RLE makes RGB grids ~1.7x larger).

    Returns:
        The PNG file's bytes.
    """
    if image.dtype != np.uint8:
        raise TypeError(f"encode_png needs uint8 pixels. Received: dtype={image.dtype}")
    if image.ndim == 2:
        image = image[:, :, None]
    height, width, channels = image.shape
    if strategy is None:
        strategy = zlib.Z_RLE if channels == 1 else zlib.Z_DEFAULT_STRATEGY
    rows = image.reshape(height, width * channels)
    filtered = np.empty((height, width * channels + 1), dtype=np.uint8)
    filtered[:, 0] = _FILTER_UP
    filtered[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])  # uint8 arithmetic wraps mod 256
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOR_TYPE[channels], 0, 0, 0)
    return b"".join(
        (
            _SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", _deflate(filtered, level, strategy)),
            _chunk(b"IEND", b""),
        )
    )
