"""Validation before training: every message names the argument, echoes the value, says what fits.

Each failure must happen at construction or when ``fit`` starts (before the first batch), and
nothing may be written to the log folder.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from fmlogger import tags
from helpers.models import tiny_cnn, tiny_data


def _no_images(log_dir) -> bool:
    run = os.path.join(log_dir, tags.RUN_SUBDIR)
    return not os.path.isdir(run) or not [n for n in os.listdir(run) if ".tfevents." in n]


def _fit_error(model, probe, layers, log_dir, x=None, y=None, **options):
    """Fits one epoch with the callback; returns the error raised and the batches trained before it."""
    import keras

    from fmlogger import FeatureMapCallback

    batches = []
    counter = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: batches.append(batch))
    callback = FeatureMapCallback(log_dir, probe, layers, max_samples=2, **options)
    if x is None:
        x, y = tiny_data(8)
    with pytest.raises(Exception) as info:
        model.fit(x, y, epochs=1, batch_size=4, verbose=0, callbacks=[callback, counter])
    return info.value, batches


def _nested():
    import keras

    inner_in = keras.Input((16, 16, 1))
    h = keras.layers.Conv2D(4, 3, name="conv_a")(inner_in)
    h = keras.layers.ReLU(name="conv_a_relu")(h)
    backbone = keras.Model(inner_in, h, name="backbone")
    inputs = keras.Input((16, 16, 1), name="image")
    x = keras.layers.GlobalAveragePooling2D(name="gap")(backbone(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="head")(x), name="outer")
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


# --- unknown layers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, suggestion",
    [
        ("backbone/conv_b", "'backbone/conv_a'"),  # typo in a nested path -> nearest path
        ("bakbone/conv_a", "'backbone/conv_a'"),  # typo in the outer name
        ("conv_a_rel", "'backbone/conv_a_relu'"),  # a leaf name -> its full path
    ],
)
def test_unknown_nested_layer_suggests_nearest_path_before_training(spec, suggestion, tmp_path):
    error, batches = _fit_error(_nested(), tiny_data(2)[0], [spec], tmp_path)
    assert isinstance(error, ValueError)
    message = str(error)
    assert message.startswith(f"layers=[{spec!r}]") and "matches no layer of model 'outer'" in message
    assert f"Did you mean {suggestion}" in message
    assert "Layers: backbone, backbone/conv_a, backbone/conv_a_relu, gap, head." in message
    assert batches == [] and _no_images(tmp_path)


def test_unknown_pattern_and_class_are_named(tmp_path):
    import keras

    error, _ = _fit_error(_nested(), tiny_data(2)[0], ["backbone/*pool*"], tmp_path)
    assert "layers=['backbone/*pool*'] (pattern) matches no layer of model 'outer'" in str(error)
    error, _ = _fit_error(_nested(), tiny_data(2)[0], [keras.layers.Conv3D], tmp_path)
    assert str(error).startswith("layers=[Conv3D] matches no layer of model 'outer'. Layers: backbone,")


def test_long_layer_listing_is_cut_with_a_pointer(tmp_path):
    import keras

    from fmlogger.capture import Capture, layer_paths

    backbone = keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), alpha=0.35, weights=None, include_top=False
    )
    probe = np.zeros((1, 32, 32, 3), np.float32)
    with pytest.raises(ValueError) as info:
        Capture(backbone, ["block_3_expand_rlu"], probe)
    message = str(info.value)
    assert "Did you mean 'block_3_expand_relu'" in message
    more = len(layer_paths(backbone)) - 60
    assert f"... and {more} more (fmlogger.capture.layer_paths(model) lists them all)." in message


# --- option values ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options, fragment",
    [
        ({"every_n_epochs": 0}, "every_n_epochs must be an integer >= 1. Received: every_n_epochs=0"),
        ({"every_n_batches": 0},
         "every_n_batches must be an integer >= 1 or None. Received: every_n_batches=0"),
        ({"max_samples": 0}, "max_samples must be an integer >= 1. Received: max_samples=0"),
        ({"max_samples": 2.5}, "Received: max_samples=2.5"),
        ({"normalize": "minmax"}, "normalize must be one of ('per_map', "),
        ({"colormap": "jet"}, "Received: colormap='jet'"),
        ({"channel_order": "random"},
         "channel_order must be one of ('index', 'top_k', 'spread'). Received: channel_order='random'"),
        ({"data_format": "NHWC"},
         "data_format must be one of ('channels_last', 'channels_first'). Received: data_format='NHWC'"),
        ({"clip_percentile": 60},
         "clip_percentile must be a number in [0, 50) or None. Received: clip_percentile=60"),
        ({"max_channels": 0}, "max_channels must be an integer >= 1 or None. Received: max_channels=0"),
        ({"on_error": "ignore"}, "on_error must be one of ('warn', 'raise'). Received: on_error='ignore'"),
        ({"layers": [3]}, "layers entries must be layer names, paths ('outer/inner'), glob patterns "
                          "('conv*') or layer classes. Received: 3 of type int"),
        ({"layers": []}, "layers must name at least one layer, or be None for the default choice"),
        ({"layers": [""]}, "Received: '' of type str"),
        ({"layers": 3.0}, "Received: layers=3.0"),
    ],
)
def test_bad_option_fails_at_construction_naming_it(options, fragment, tmp_path):
    from fmlogger import FeatureMapCallback

    options = dict(options)
    layers = options.pop("layers", ["conv1"])
    with pytest.raises(ValueError) as info:
        FeatureMapCallback(tmp_path / "logs", tiny_data(2)[0], layers, **options)
    assert fragment in str(info.value)
    assert not (tmp_path / "logs").exists()


# --- probe shapes -----------------------------------------------------------------------------


def _two_inputs():
    import keras

    image = keras.Input((16, 16, 1), name="image")
    extra = keras.Input((4,), name="extra")
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(3, 3, name="conv")(image))
    x = keras.layers.Concatenate()([x, extra])
    model = keras.Model([image, extra], keras.layers.Dense(2, activation="softmax")(x), name="two")
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


def test_probe_shape_mismatch_names_input_and_shapes(tmp_path):
    probe = np.zeros((2, 20, 20, 3), np.float32)
    error, batches = _fit_error(tiny_cnn(name="cnn"), probe, ["conv1"], tmp_path)
    assert str(error).startswith(
        "probe does not fit model 'cnn': input 'image' (input 0) expects shape (None, 16, 16, 1) but the "
        "probe gives (2, 20, 20, 3)"
    )
    assert batches == [] and _no_images(tmp_path)


@pytest.mark.parametrize(
    "probe, fragment",
    [
        ([np.zeros((2, 16, 16, 1)), np.zeros((2, 5))],
         "input 'extra' (input 1) expects shape (None, 4) but the probe gives (2, 5)"),
        ({"image": np.zeros((2, 16, 16, 1))},
         "the probe dict has no entry for input(s) 'extra'. Received keys: ['image']"),
        (np.zeros((2, 16, 16, 1)),
         "the model takes 2 input(s) ('image' (None, 16, 16, 1), 'extra' (None, 4)) "
         "but the probe gives 1 array(s)"),
    ],
)
def test_multi_input_probe_mismatch(probe, fragment, tmp_path):
    x, y = tiny_data(8)
    error, batches = _fit_error(
        _two_inputs(), probe, ["conv"], tmp_path, x=[x, np.zeros((8, 4), np.float32)], y=y
    )
    assert isinstance(error, ValueError) and fragment in str(error), str(error)
    assert str(error).startswith("probe does not fit model 'two': ")
    assert batches == []



def _unbuilt_subclassed_net():
    """A subclassed model named 'net' with a layer 'conv', not built yet."""
    import keras

    class Net(keras.Model):
        def __init__(self):
            super().__init__(name="net")
            self.conv = keras.layers.Conv2D(2, 3, name="conv")
            self.out = keras.layers.Dense(2, activation="softmax")

        def call(self, x):
            return self.out(keras.ops.mean(self.conv(x), axis=(1, 2)))

    model = Net()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model

def test_probe_mismatch_for_subclassed_model_says_what_failed(tmp_path):
    model = _unbuilt_subclassed_net()
    error, batches = _fit_error(model, np.zeros((2, 16, 16), np.float32), ["conv"], tmp_path)
    message = str(error)
    assert message.startswith(
        "probe does not fit model 'net': calling the model on the probe (shapes (1, 16, 16), batch cut to 1) "
        "failed with ValueError: "
    )
    assert "layer 'conv' is incompatible" in message and "\x1b[" not in message
    assert batches == []


# --- log_dir ----------------------------------------------------------------------------------


def test_log_dir_under_a_file_fails_at_construction(tmp_path):
    from fmlogger import FeatureMapCallback

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ValueError) as info:
        FeatureMapCallback(blocker / "runs", tiny_data(2)[0], ["conv1"])
    runs = str(blocker / "runs")
    assert str(info.value) == f"log_dir={runs!r} cannot be created: {str(blocker)!r} is a file, not a folder."


def test_unwritable_log_dir_names_path_and_os_error(tmp_path):
    """/sys refuses new folders (EPERM for root, no write permission otherwise)."""
    log_dir = "/sys/fmlogger-test-runs"
    with pytest.raises(PermissionError) as info:
        error, batches = _fit_error(tiny_cnn(), tiny_data(2)[0], ["conv1"], log_dir)
        assert batches == []
        raise error
    message = str(info.value)
    assert f"log_dir={log_dir!r} is not writable" in message
    # root passes the permission bits and fails when creating: the OS error is quoted
    assert "no write permission on '/sys'" in message or "Operation not permitted (errno 1)" in message


def test_layers_resolved_only_when_model_is_known(tmp_path):
    """An unbuilt subclassed model: layer names are checked at train begin, against the real model."""
    model = _unbuilt_subclassed_net()
    error, batches = _fit_error(model, tiny_data(2)[0], ["cnv"], tmp_path)
    assert "layers=['cnv'] (name) matches no layer of model 'net'. Did you mean 'conv'?" in str(error)
    assert batches == [] and _no_images(tmp_path)
