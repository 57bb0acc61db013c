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


def test_grid_pixels_follow_the_renderers_tiles():
    from fmlogger.render.renderer import Renderer, RenderSettings
    from fmlogger.views.feature_maps import grid_pixels

    settings = RenderSettings()
    # 64 of 256 channels, 8 x 8 tiles of 56 px + 1 px padding: (8 * 57 + 1) ** 2 = 457 ** 2
    assert grid_pixels((1, 56, 56, 256), "channels_last", settings) == 457**2
    # 7x7 maps upscaled 5x to 35 px (min_tile_size=32): (8 * 36 + 1) ** 2; channels first the same
    assert grid_pixels((1, 2048, 7, 7), "channels_first", settings) == 289**2
    for shape in [(1, 224, 224, 3), (1, 28, 28, 5), (1, 13, 9, 70)]:  # as the renderer draws them
        drawn = Renderer(settings).render("layer", np.zeros(shape, np.float32)).images[0]
        assert grid_pixels(shape, "channels_last", settings) == drawn.shape[0] * drawn.shape[1]


def _wide(size: int):
    """Ten 64-channel convolutions at full resolution (``same`` padding)."""
    layers = [keras.Input((size, size, 3))]
    layers += [keras.layers.Conv2D(64, 3, padding="same", name=f"conv{i}") for i in range(10)]
    return keras.Sequential(layers)


def test_a_big_models_default_choice_keeps_fewer_layers_still_spread(caplog):
    from fmlogger.render.renderer import RenderSettings
    from fmlogger.views.feature_maps import FeatureMapView

    # 224x224 -> 56 px tiles: (2 samples + 8 for the timeline) * 457**2 = 2.09e6 pixels a layer;
    # 12 * 2**20 = 1.26e7 fits 6 of them, spread: linspace(0, 9, 6).round() = 0, 2, 4, 5, 7, 9
    view = FeatureMapView(None, RenderSettings(), max_samples=4)
    with caplog.at_level("WARNING", logger="fmlogger"):
        view.prepare(_wide(224), np.zeros((2, 224, 224, 3), np.float32))
    assert view.capture.paths == ["conv0", "conv2", "conv4", "conv5", "conv7", "conv9"]
    assert "keeps 6 layers (not 10)" in caplog.text
    small = FeatureMapView(None, RenderSettings(), max_samples=4)
    small.prepare(_wide(32), np.zeros((2, 32, 32, 3), np.float32))
    assert small.capture.paths == [f"conv{i}" for i in range(10)]  # (2 + 8) * 265**2 each: all fit
