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


def _filtered_rows(rows: np.ndarray, previous: np.ndarray | None) -> np.ndarray:
    """PNG "Up"-filtered scanlines of ``rows`` ``[h, w*c]``; ``previous`` is the row above the first."""
    filtered = np.empty((rows.shape[0], rows.shape[1] + 1), dtype=np.uint8)
    filtered[:, 0] = _FILTER_UP
    filtered[0, 1:] = rows[0] if previous is None else rows[0] - previous  # uint8 wraps mod 256
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])
    return filtered


def _png_bytes(width: int, height: int, channels: int, idat: bytes) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOR_TYPE[channels], 0, 0, 0)
    return b"".join((_SIGNATURE, _chunk(b"IHDR", header), _chunk(b"IDAT", idat), _chunk(b"IEND", b"")))


def _as_hwc(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8:
        raise TypeError(f"encode_png needs uint8 pixels. Received: dtype={image.dtype}")
    return image[:, :, None] if image.ndim == 2 else image


def _default_strategy(channels: int) -> int:
    return zlib.Z_RLE if channels == 1 else zlib.Z_DEFAULT_STRATEGY


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
    image = _as_hwc(image)
    height, width, channels = image.shape
    strategy = _default_strategy(channels) if strategy is None else strategy
    filtered = _filtered_rows(image.reshape(height, width * channels), None)
    return _png_bytes(width, height, channels, _deflate(filtered, level, strategy))


class GrowingPNG:
    """Encodes an image that grows by rows at the bottom, compressing only the new rows.

    Each ``encode`` returns a complete PNG of the image given. When that image starts with the
    previous one (same width and channels, the previous rows unchanged, e.g. a timeline that got
    one more row), the deflate stream of the earlier rows is reused and only the new rows are
    compressed; otherwise the image is encoded afresh. The output decodes to the same pixels as
    ``encode_png`` (the compressed bytes may differ). When the image starts with the previous one
    less the rows the previous call added (a timeline past its ``max_rows`` replaced its newest
    row), the stream goes on from where it was before those rows. Each call's new rows end with a
    zlib sync flush, so the next PNG only appends the stream's end and no row is compressed twice;
    the IDAT CRC is carried along. Measured on the demo's five timelines: ~20% less time per step, files
    ~1% larger (a deflate block per step).

    Example:
        >>> stream = GrowingPNG()
        >>> first = stream.encode(np.zeros((2, 3), np.uint8))
        >>> grown = stream.encode(np.zeros((5, 3), np.uint8))   # compresses 3 new rows only
    """

    def __init__(self, level: int = 1):
        self.level = level
        self._rows: np.ndarray | None = None  # the rows encoded so far, [h, w*c]
        self._shape: tuple[int, int] | None = None
        self._compressor = None
        self._chunks: list[bytes] = []
        self._crc = 0  # CRC-32 of b"IDAT" and the chunks
        self._size = 0  # bytes in the chunks
        self._mark = None  # (rows, compressor, chunks, crc, size) before the last call's new rows

    def encode(self, image: np.ndarray) -> bytes:
        image = _as_hwc(image)
        height, width, channels = image.shape
        rows = image.reshape(height, width * channels)
        done = 0 if self._rows is None else len(self._rows)
        if self._shape != (width, channels) or not self._starts_with(rows, done):
            mark = self._mark
            if self._shape == (width, channels) and mark is not None and self._starts_with(rows, mark[0]):
                # The rows before the last call's new ones are unchanged (a timeline past its
                # max_rows dropped its newest row): go on from the stream as it was before them.
                done, compressor, chunks, self._crc, self._size = mark
                self._compressor = compressor.copy()
                del self._chunks[chunks:]
            else:
                strategy = _default_strategy(channels)
                self._compressor = zlib.compressobj(self.level, zlib.DEFLATED, zlib.MAX_WBITS, 8, strategy)
                self._chunks, self._shape, done = [], (width, channels), 0
                self._crc, self._size = zlib.crc32(b"IDAT"), 0
        if height > done:
            self._mark = None if not done else (
                done, self._compressor.copy(), len(self._chunks), self._crc, self._size
            )
            new = _filtered_rows(rows[done:], rows[done - 1] if done else None)
            chunk = self._compressor.compress(new.tobytes()) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
            self._chunks.append(chunk)
            self._crc, self._size = zlib.crc32(chunk, self._crc), self._size + len(chunk)
        self._rows = rows.copy()
        end = self._compressor.copy().flush()
        header = struct.pack(">IIBBBBB", width, height, 8, _COLOR_TYPE[channels], 0, 0, 0)
        return b"".join((
            _SIGNATURE, _chunk(b"IHDR", header), struct.pack(">I", self._size + len(end)), b"IDAT",
            *self._chunks, end, struct.pack(">I", zlib.crc32(end, self._crc)), _chunk(b"IEND", b""),
        ))

    def _starts_with(self, rows: np.ndarray, count: int) -> bool:
        """Whether ``rows`` begins with the first ``count`` (> 0) rows encoded so far."""
        return 0 < count <= len(rows) and np.array_equal(rows[:count], self._rows[:count])
