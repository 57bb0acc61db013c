"""PNG decoding without TensorFlow: the numpy+zlib decoder, the Pillow path, the size cap."""

from __future__ import annotations

import io
import struct
import sys
import time
import tracemalloc
import zlib

import numpy as np
import pytest

from fmlogger.render.png import encode_png
from fmlogger.runs.png_decode import MAX_PIXELS, decode_png, decode_png_numpy

COLOUR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}


@pytest.fixture(params=["pillow", "numpy"])
def decode(request, monkeypatch):
    """``decode_png`` with Pillow, then as if Pillow were not installed (the numpy decoder)."""
    if request.param == "pillow":
        pytest.importorskip("PIL")
    else:
        monkeypatch.setitem(sys.modules, "PIL", None)  # makes `import PIL` fail
    return decode_png


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png(width, height, channels, raw: bytes, *, depth=8, colour=None, interlace=0) -> bytes:
    colour = COLOUR_TYPE[channels] if colour is None else colour
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def filtered_png(image: np.ndarray, filters: list[int]) -> bytes:
    """A reference encoder: row ``r`` filtered with ``filters[r]`` (PNG spec, section 9).

    Predictions use the original pixels (left ``a``, up ``b``, up-left ``c``), so it is vectorized."""
    h, w, ch = image.shape
    x = image.astype(np.int32)
    a = np.zeros_like(x)
    a[:, 1:] = x[:, :-1]
    b = np.zeros_like(x)
    b[1:] = x[:-1]
    c = np.zeros_like(x)
    c[1:, 1:] = x[:-1, :-1]
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
    predictions = np.stack([np.zeros_like(x), a, b, (a + b) // 2, paeth])  # [5, h, w, ch]
    kinds = np.array(filters)
    rows = ((x - predictions[kinds, np.arange(h)]) % 256).astype(np.uint8).reshape(h, w * ch)
    raw = np.concatenate([kinds[:, None].astype(np.uint8), rows], axis=1).tobytes()
    return png(w, h, ch, raw)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_fmlogger_pngs_round_trip(decode, channels):
    image = np.random.default_rng(channels).integers(0, 256, (37, 23, channels), dtype=np.uint8)
    np.testing.assert_array_equal(decode(encode_png(image)), image)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_every_row_filter_on_both_paths(decode, channels):
    image = np.random.default_rng(10 + channels).integers(0, 256, (23, 19, channels), dtype=np.uint8)
    data = filtered_png(image, [r % 5 for r in range(23)])  # None, Sub, Up, Average, Paeth, None, ...
    np.testing.assert_array_equal(decode(data), image)
    uniform = filtered_png(image, [0, 2, 2, 0, 2] * 4 + [2, 2, 0])  # the cumulative-sum path
    np.testing.assert_array_equal(decode(uniform), image)


def test_golden_pixels_of_the_sub_and_average_filters():
    # One gray row [200, 44] stored with Sub: bytes 200, 100 -> 44 = (100 + 200) % 256.
    assert decode_png_numpy(png(2, 1, 1, bytes([1, 200, 100])))[:, :, 0].tolist() == [[200, 44]]
    # Row 2 with Average: 10 + (0 + 50) // 2 = 35 (nothing left of it), then 7 + (35 + 70) // 2 = 59.
    rows = bytes([0, 50, 70, 3, 10, 7])
    assert decode_png_numpy(png(2, 2, 1, rows))[:, :, 0].tolist() == [[50, 70], [35, 59]]


def test_numpy_decoder_equals_pillow_on_pillows_own_pngs():
    Image = pytest.importorskip("PIL.Image")
    image = np.random.default_rng(3).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    image[:20] //= 16  # smooth and noisy halves make Pillow pick different filters
    for mode, pixels in (
        ("RGB", image),
        ("RGBA", np.dstack([image, image[:, :, :1]])),
        ("L", image[:, :, 0]),
    ):
        buffer = io.BytesIO()
        Image.fromarray(pixels, mode).save(buffer, "PNG", optimize=True)
        expected = np.asarray(Image.open(io.BytesIO(buffer.getvalue())))
        decoded = decode_png_numpy(buffer.getvalue())
        np.testing.assert_array_equal(decoded.reshape(expected.shape), expected)


def test_png_bomb_header_is_refused_before_inflating(decode):
    side = 100_000  # 10^10 pixels claimed, 0x0 pixels of data
    data = png(side, side, 1, b"")
    start = time.perf_counter()
    with pytest.raises(
        ValueError, match=r"100000x100000 = 10,000,000,000 pixels refused: over the 50,000,000"
    ):
        decode(data)
    assert time.perf_counter() - start < 0.5
    assert MAX_PIXELS == 50_000_000


def test_pixel_data_bomb_inflates_no_more_than_the_image_needs():
    data = png(10, 10, 1, bytes(50_000_000))  # IHDR 10x10, IDAT inflating to 50 MB
    tracemalloc.start()
    with pytest.raises(ValueError, match=r"needs 110 bytes of rows, the data holds more"):
        decode_png_numpy(data)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1 << 20, peak


@pytest.mark.parametrize(
    "data, message",
    [
        (b"GIF89a" + bytes(40), "not a PNG"),
        (encode_png(np.zeros((4, 4), np.uint8))[:40], "truncated PNG"),
        (encode_png(np.zeros((4, 4), np.uint8)).replace(b"IDAT", b"IDAX"), "damaged PNG: CRC mismatch"),
    ],
)
def test_bad_pngs_are_clear_value_errors(decode, data, message):
    with pytest.raises(ValueError, match=message):
        decode(data)


def test_numpy_decoder_names_what_it_does_not_read():
    with pytest.raises(ValueError, match="bit depth 16.*pip install pillow"):
        decode_png_numpy(png(1, 1, 1, bytes([0, 1, 2]), depth=16))
    with pytest.raises(ValueError, match="colour type 3"):
        decode_png_numpy(png(1, 1, 1, bytes([0, 0]), colour=3))
    with pytest.raises(ValueError, match="interlace 1"):
        decode_png_numpy(png(1, 1, 1, bytes([0, 0]), interlace=1))
