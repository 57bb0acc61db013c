"""DenseNet-style Concatenate layers: with channel_order="index" and more channels than
max_channels, the image shows the layer's own new channels, not a copy of its input's."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from fmlogger import FeatureMapLogger, tags  # noqa: E402
from helpers.runs import read_run  # noqa: E402


def dense_block():
    """conv(4) -> concat([conv, grow(2)]): 6 channels, the last 2 new."""
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    grow = keras.layers.Conv2D(2, 3, padding="same", name="grow")(x)
    return keras.Model(inputs, keras.layers.Concatenate(name="concat")([x, grow]))


def test_concatenate_shows_its_new_channels_when_over_max_channels(tmp_path):
    model = dense_block()
    x = np.random.default_rng(0).random((1, 8, 8, 1), dtype=np.float32)
    logger = FeatureMapLogger(
        tmp_path, ["conv", "grow", "concat"], max_channels=2, min_tile_size=1, padding=0, cols=2
    )
    logger.log(model, x, 0)
    logger.close()
    images = {event_tag: read_run(tmp_path / tags.RUN_SUBDIR).images[event_tag][0].images
              for event_tag in ("feature_maps/conv", "feature_maps/grow", "feature_maps/concat")}
    np.testing.assert_array_equal(images["feature_maps/concat"], images["feature_maps/grow"])
    assert not np.array_equal(images["feature_maps/concat"], images["feature_maps/conv"])
    assert images["feature_maps/concat"].shape == (1, 8, 16, 1)


def test_concatenate_within_max_channels_shows_all_in_order(tmp_path):
    x = np.zeros((1, 8, 8, 1), np.float32)
    logger = FeatureMapLogger(tmp_path, ["concat"], max_channels=8)
    logger.log(dense_block(), x, 0)
    renderer = logger.pipeline.views[0].renderer
    assert renderer.channels_for("concat", np.zeros((1, 6, 8, 8))).tolist() == list(range(6))
    logger.close()


def test_spread_shows_channels_of_every_concatenated_input(tmp_path):
    model = dense_block()  # concat = [conv 0..3, grow 0..1]: channels 0..5
    x = np.random.default_rng(1).random((1, 8, 8, 1), dtype=np.float32)
    logger = FeatureMapLogger(
        tmp_path, ["conv", "grow", "concat"], max_channels=4, channel_order="spread",
        min_tile_size=1, padding=0, cols=4,
    )
    logger.log(model, x, 0)
    logger.close()
    run = read_run(tmp_path / tags.RUN_SUBDIR)
    tiles = {
        name: run.images[f"feature_maps/{name}"][0].images[0, :, :, 0].reshape(8, -1, 8).swapaxes(0, 1)
        for name in ("conv", "grow", "concat")
    }
    # linspace(0, 5, 4) = 0, 1.67, 3.33, 5 -> channels 0, 2, 3 (of conv) and 5 (grow's channel 1)
    renderer = logger.pipeline.views[0].renderer
    assert renderer.channels_for("concat", np.zeros((1, 6, 8, 8))).tolist() == [0, 2, 3, 5]
    np.testing.assert_array_equal(tiles["concat"], np.stack([*tiles["conv"][[0, 2, 3]], tiles["grow"][1]]))
    frame = renderer.render("concat", np.zeros((1, 8, 8, 6), np.float32))
    assert "4 of 6 channels, evenly spread over the channels, row by row: 0, 2, 3, 5" in frame.description
