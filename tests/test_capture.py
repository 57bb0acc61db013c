import logging

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from fmlogger.capture import Capture, iter_layers, select_layers  # noqa: E402
from helpers.models import tiny_cnn, tiny_data  # noqa: E402


def test_iter_layers_gives_paths_of_nested_models():
    inner = keras.Sequential(
        [keras.Input((6, 6, 2)), keras.layers.Conv2D(2, 3, name="inner_conv")], name="backbone"
    )
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(2, 3, name="stem")(inputs)
    outputs = keras.layers.Flatten(name="flat")(inner(x))
    paths = [p for p, _ in iter_layers(keras.Model(inputs, outputs))]
    assert paths == ["stem", "backbone", "backbone/inner_conv", "flat"]


def test_select_by_name_glob_and_class():
    model = tiny_cnn()
    assert [p for p, _ in select_layers(model, "conv2")] == ["conv2"]
    assert [p for p, _ in select_layers(model, ["conv*"])] == ["conv1", "conv2"]
    assert [p for p, _ in select_layers(model, [keras.layers.MaxPooling2D, "conv1"])] == ["conv1", "pool1"]


def test_unknown_layer_lists_layers_and_suggests_nearest():
    with pytest.raises(ValueError) as err:
        select_layers(tiny_cnn(), ["conv9"])
    message = str(err.value)
    assert "layers=['conv9']" in message and "tiny_cnn" in message
    assert "Did you mean 'conv1' or 'conv2'" in message or "Did you mean 'conv2' or 'conv1'" in message
    assert "Layers: conv1, pool1, conv2, gap, head." in message


def test_pattern_and_class_that_match_nothing():
    with pytest.raises(ValueError, match=r"\(pattern\) matches no layer"):
        select_layers(tiny_cnn(), ["dense*"])
    with pytest.raises(ValueError, match=r"layers=\[LSTM\] matches no layer"):
        select_layers(tiny_cnn(), [keras.layers.LSTM])


def test_default_choice_is_4d_outputs_only():
    x, _ = tiny_data(2)
    capture = Capture(tiny_cnn(), None, x)
    assert capture.paths == ["conv1", "pool1", "conv2"]


def test_default_choice_is_capped_and_names_what_was_left_out(caplog):
    inputs = keras.Input((8, 8, 1))
    x = inputs
    for i in range(6):
        x = keras.layers.Conv2D(1, 1, name=f"c{i}")(x)
    model = keras.Model(inputs, x)
    with caplog.at_level(logging.WARNING, logger="fmlogger"):
        capture = Capture(model, None, np.zeros((1, 8, 8, 1), np.float32), max_layers=3)
    assert capture.paths == ["c0", "c2", "c5"]  # spread over the model, first and last kept
    assert "Left out: c1, c3, c4" in caplog.text


def test_one_trace_for_many_calls_and_values_match_the_model():
    model = tiny_cnn()
    x, _ = tiny_data(4)
    capture = Capture(model, ["conv1", "gap"], x)
    for n in (4, 3, 4, 1):
        out = capture(x[:n])
    assert capture.trace_count == 1
    expected = keras.Model(model.inputs[0], model.get_layer("gap").output)(x[:1])
    np.testing.assert_allclose(out["gap"], np.asarray(expected), rtol=1e-5, atol=1e-6)
    assert out["conv1"].shape == (1, 14, 14, 4) and out["conv1"].dtype == np.float32
    assert "call" not in vars(model.get_layer("conv1"))  # the wrapper is gone
