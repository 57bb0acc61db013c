"""The PNG encoder: TensorFlow's decoder gives back exactly the pixels that went in."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from fmlogger.render.png import encode_png


def _decode(data: bytes) -> np.ndarray:
    import tensorflow as tf

    return tf.io.decode_png(data).numpy()


@pytest.mark.requires_tf  # TensorFlow's PNG decoder is the oracle
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (9, 1), (33, 20)])
def test_round_trip_through_tf_decode_png(rng, channels, shape):
    image = rng.integers(0, 256, shape + (channels,), dtype=np.uint8)
    decoded = _decode(encode_png(image))
    assert decoded.dtype == np.uint8 and decoded.shape == image.shape
    np.testing.assert_array_equal(decoded, image)


@pytest.mark.requires_tf  # TensorFlow's PNG decoder is the oracle
@pytest.mark.parametrize("level", [0, 1, 9])
@pytest.mark.parametrize("strategy", [zlib.Z_DEFAULT_STRATEGY, zlib.Z_RLE, zlib.Z_FILTERED])
def test_levels_and_strategies_round_trip(rng, level, strategy):
    # Upscaled tiles: repeated rows and columns, what the renderer emits.
    small = rng.integers(0, 256, (6, 5), dtype=np.uint8)
    image = np.repeat(np.repeat(small, 4, axis=0), 4, axis=1)
    data = encode_png(image, level, strategy=strategy)
    np.testing.assert_array_equal(_decode(data)[..., 0], image)


@pytest.mark.requires_tf  # TensorFlow's PNG decoder is the oracle
def test_two_dimensional_input_is_gray_and_strided_views_work(rng):
    base = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
    view = base[::2, 1::2, 0]  # not contiguous
    np.testing.assert_array_equal(_decode(encode_png(view))[..., 0], view)


def test_repeated_rows_compress_to_almost_nothing():
    image = np.tile(np.arange(200, dtype=np.uint8), (400, 1))  # 80 kB of pixels
    assert len(encode_png(image)) < 2_000


def test_non_uint8_is_refused():
    with pytest.raises(TypeError, match="Received: dtype=float32"):
        encode_png(np.zeros((2, 2), np.float32))


@pytest.mark.requires_tf  # TensorFlow's PNG decoder is the oracle
def test_growing_png_decodes_to_each_image_given(rng):
    from fmlogger.render.png import GrowingPNG

    stream = GrowingPNG()
    image = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    grown = np.concatenate([image, rng.integers(0, 256, (9, 5, 3), dtype=np.uint8)])
    changed = grown.copy()
    changed[0, 0, 0] ^= 1  # an earlier row changed: encoded afresh
    narrower = grown[:, :4].copy()  # another width: encoded afresh
    for picture in (image, image, grown, changed, grown[:7], narrower, grown):
        np.testing.assert_array_equal(_decode(stream.encode(picture)), picture)


@pytest.mark.requires_tf  # TensorFlow's PNG decoder is the oracle
def test_growing_png_compresses_only_the_new_rows(rng):
    from fmlogger.render.png import GrowingPNG

    stream = GrowingPNG()
    image = rng.integers(0, 256, (400, 64), dtype=np.uint8)  # incompressible: ~25.6 kB of IDAT
    stream.encode(image)
    before = stream._compressor
    grown = np.concatenate([image, np.zeros((1, 64), np.uint8)])
    np.testing.assert_array_equal(_decode(stream.encode(grown))[..., 0], grown)
    assert stream._compressor is before  # the same deflate stream went on: no re-encode


@pytest.mark.requires_tf  # TensorFlow's PNG decoder is the oracle
def test_growing_png_replaces_the_rows_the_last_call_added(rng):
    from fmlogger.render.png import GrowingPNG

    stream = GrowingPNG()
    top = rng.integers(0, 256, (40, 24), dtype=np.uint8)
    rows = [rng.integers(0, 256, (3, 24), dtype=np.uint8) for _ in range(4)]
    np.testing.assert_array_equal(_decode(stream.encode(top))[..., 0], top)
    first_chunk = stream._chunks[0]
    # top + r0, then top + r1 (r0 dropped, as a timeline past max_rows drops its newest row), ...
    for picture in ([top, rows[0]], [top, rows[1]], [top, rows[1], rows[2]], [top, rows[1], rows[3]]):
        image = np.concatenate(picture)
        np.testing.assert_array_equal(_decode(stream.encode(image))[..., 0], image)
    assert stream._chunks[0] is first_chunk  # the top rows were never compressed again
    changed = image.copy()
    changed[0, 0] ^= 1  # an early row changed: encoded afresh
    np.testing.assert_array_equal(_decode(stream.encode(changed))[..., 0], changed)
    assert stream._chunks[0] is not first_chunk
