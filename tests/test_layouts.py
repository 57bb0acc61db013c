"""Channels-first models: every captured layer drawn in its own layout, not only convolutions."""

import pytest

keras = pytest.importorskip("keras")

from fmlogger import FeatureMapCallback, tags  # noqa: E402
from fmlogger.capture import Capture  # noqa: E402
from helpers.models import tiny_data  # noqa: E402
from helpers.runs import read_run  # noqa: E402


def channels_first_cnn():
    """conv(6, channels_first) -> BatchNormalization(axis=1) -> Activation -> gap -> dense."""
    inputs = keras.Input((1, 16, 16), name="image")
    x = keras.layers.Conv2D(6, 3, data_format="channels_first", name="conv")(inputs)
    x = keras.layers.BatchNormalization(axis=1, name="bn")(x)
    x = keras.layers.Activation("relu", name="act")(x)
    x = keras.layers.GlobalAveragePooling2D(data_format="channels_first", name="gap")(x)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="head")(x))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def test_layers_after_a_channels_first_conv_are_channels_first():
    x = tiny_data(2)[0].transpose(0, 3, 1, 2)
    capture = Capture(channels_first_cnn(), ["conv", "bn", "act"], x)
    assert capture.data_formats == {"conv": "channels_first", "bn": "channels_first", "act": "channels_first"}


def test_batchnorm_and_activation_tiles_are_the_conv_maps(tmp_path):
    x, y = tiny_data(8)
    x = x.transpose(0, 3, 1, 2)
    cb = FeatureMapCallback(tmp_path, x[:1], ["conv", "bn", "act"], min_tile_size=1, padding=0, cols=6)
    channels_first_cnn().fit(x, y, epochs=1, batch_size=4, verbose=0, callbacks=[cb])
    run = read_run(tmp_path / tags.RUN_SUBDIR)
    for layer in ("conv", "bn", "act"):
        # 6 channels of 14x14 in one row of 6 tiles (drawn channels_last: 14 tiles of 6x14)
        assert run.images[f"feature_maps/{layer}"][0].images.shape == (1, 14, 6 * 14, 1), layer
