"""Resolving names, paths and globs in nested models, and how repeated calls are named."""

from __future__ import annotations

import numpy as np
import pytest

from fmlogger.capture import Capture, layer_paths, select_layers
from helpers.models import conv_block


def _block_model():
    import keras

    inputs = keras.Input((8, 8, 1))
    inner_in = keras.Input((8, 8, 2))
    deep = keras.Model(inner_in, conv_block(2, name="deep_block")(inner_in), name="deep")
    x = conv_block(2, name="block")(inputs)
    x = deep(x)
    return keras.Model(inputs, x, name="outer")


def test_paths_reach_into_custom_layers_and_nested_models():
    assert layer_paths(_block_model()) == [
        "block", "block/conv", "block/relu",
        "deep", "deep/deep_block", "deep/deep_block/conv", "deep/deep_block/relu",
    ]


def test_names_globs_and_paths_resolve_as_documented():
    model = _block_model()

    def chosen(spec):
        return [p for p, _ in select_layers(model, spec)]

    assert chosen("relu") == ["block/relu", "deep/deep_block/relu"]  # no top-level 'relu': every nested one
    assert chosen("block") == ["block"]  # a top-level name wins
    assert chosen("deep/*/relu") == ["deep/deep_block/relu"]
    assert chosen("*relu") == ["block/relu", "deep/deep_block/relu"]  # '*' crosses '/'
    assert chosen("deep_b*") == ["deep/deep_block"]  # no '/': also matched against names
    assert chosen("b*") == ["block", "block/conv", "block/relu"]  # ... and against whole paths


def test_layer_in_two_nested_models_has_one_path_and_counts_every_call():
    import keras

    shared = keras.layers.Conv2D(1, 3, padding="same", name="shared")
    a_in, b_in = keras.Input((8, 8, 1)), keras.Input((8, 8, 1))
    first = keras.Model(a_in, shared(a_in), name="first")
    second = keras.Model(b_in, shared(b_in), name="second")
    inputs = keras.Input((8, 8, 1))
    model = keras.Model(inputs, second(first(inputs)) * 2.0, name="outer")
    assert layer_paths(model) == ["first", "first/shared", "second"]
    x = np.random.default_rng(0).random((2, 8, 8, 1)).astype(np.float32)
    capture = Capture(model, ["shared"], x)
    out = capture(x)
    assert list(out) == ["first/shared", "first/shared#1"]
    # the second call's input is the first call's output
    second_call = keras.ops.convert_to_numpy(shared(out["first/shared"]))
    np.testing.assert_allclose(out["first/shared#1"], second_call, rtol=1e-5, atol=1e-6)
    assert capture.trace_count == 1


@pytest.mark.requires_tf  # TensorFlow's retracing warning
def test_many_captures_in_one_process_are_not_reported_as_retracing():
    """Each Capture traces once; TensorFlow must not read 8 models' traces as one function retracing."""
    import logging

    import keras
    import tensorflow as tf

    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    tf.get_logger().addHandler(handler)
    try:
        x = np.zeros((2, 8, 8, 1), np.float32)
        for i in range(8):
            model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(1 + i, 3, name="conv")])
            capture = Capture(model, ["conv"], x)
            assert capture(x)["conv"].shape == (2, 6, 6, 1 + i) and capture.trace_count == 1
    finally:
        tf.get_logger().removeHandler(handler)
    assert not [m for m in messages if "retracing" in m and "Capture" in m]
