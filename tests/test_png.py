import numpy as np
import pytest

from fmlogger._png import encode_png


@pytest.mark.parametrize("shape", [(7, 5), (7, 5, 1), (6, 9, 3), (4, 4, 4), (1, 1, 3)])
def test_round_trip_through_tensorflow_decoder(shape, rng):
    tf = pytest.importorskip("tensorflow")
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    decoded = tf.io.decode_png(encode_png(image)).numpy()
    np.testing.assert_array_equal(decoded, image.reshape(decoded.shape))


def test_rejects_non_uint8():
    with pytest.raises(TypeError, match="uint8"):
        encode_png(np.zeros((2, 2), np.float32))
