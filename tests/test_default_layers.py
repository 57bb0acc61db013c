"""The default layer choice (``layers=None``) leaves out maps that show nothing new."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from fmlogger.capture import Capture


def test_default_choice_skips_1x1_maps_identity_layers_and_a_nested_models_copy():
    inner = keras.Sequential(
        [keras.Input((8, 8, 4)), keras.layers.Conv2D(4, 3, padding="same", name="inner_conv")], name="inner"
    )
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = keras.layers.Dropout(0.5, name="drop")(x)
    x = keras.layers.SpatialDropout2D(0.5, name="sdrop")(x)
    x = keras.layers.GaussianNoise(0.1, name="noise")(x)
    squeeze = keras.layers.GlobalAveragePooling2D(keepdims=True, name="se_pool")(x)  # 1x1 maps
    excite = keras.layers.Conv2D(4, 1, activation="sigmoid", name="se_conv")(squeeze)
    x = keras.layers.Multiply(name="se_scale")([x, excite])
    x = inner(x)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D(name="gap")(x))
    capture = Capture(model, None, np.zeros((2, 8, 8, 1), np.float32))
    assert capture.paths == ["conv", "se_scale", "inner/inner_conv"]


def test_channels_first_1x1_maps_are_skipped_by_their_own_layout():
    inputs = keras.Input((2, 1, 1))  # 2 channels of 1x1 (channels_last it would read 1 channel of 2x1)
    x = keras.layers.Conv2D(3, 1, data_format="channels_first", name="pointwise")(inputs)
    x = keras.layers.UpSampling2D(4, data_format="channels_first", name="up")(x)
    capture = Capture(keras.Model(inputs, x), None, np.zeros((1, 2, 1, 1), np.float32))
    assert capture.paths == ["up"]
